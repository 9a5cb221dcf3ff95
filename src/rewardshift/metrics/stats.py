"""Statistics: intervals, tests, effect sizes, divergences and p-value text, each defined once.

Everything else in rewardshift that needs an interval or a p-value calls this module.

Intervals

* :func:`bootstrap_ci` -- the percentile bootstrap (Efron & Tibshirani 1993, "An Introduction
  to the Bootstrap", ch. 13): a statistic on ``R`` seeded resamples of the units drawn with
  replacement, and the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of its values.
  :func:`bootstrap_mean_ci` (the mean of prompt-level values) and
  :func:`cluster_bootstrap_share` (a pooled share, resampling prompts as clusters) are the two
  everyday cases.
* :func:`half_sample_se` -- the delete-d jackknife with d = n/2 (Shao & Wu 1989, "A general
  theory for jackknife variance estimation", Ann. Stat. 17(3)), for statistics of a whole set,
  which a with-replacement bootstrap would bias (duplicates read as lost diversity);
  :func:`normal_ci` turns a standard error into ``value ± z·SE``, and
  :func:`bounded_normal_ci` into an interval on the log scale that stays above a metric's
  lower bound (distances, counts, entropies are never negative).
* :func:`wilson_ci` -- the Wilson score interval of a proportion (Wilson 1927).

Tests

* :func:`permutation_test` -- the one Monte Carlo permutation engine: a statistic of two
  samples (larger = more extreme) against its values on ``R`` seeded re-splits of the pooled
  units (independent) or on random swaps within pairs (paired, i.e. sign flips of the
  differences); ``p = (1 + #{T_r >= T}) / (1 + R)`` (Phipson & Smyth 2010, "Permutation
  p-values should never be zero", Stat. Appl. Genet. Mol. Biol. 9(1)).
  :func:`permutation_test_sets` (differences of set statistics) and :func:`js_permutation`
  (Jensen-Shannon divergence of two label arrays) are built on it.
* :func:`permutation_test_values` -- a difference in means of prompt-level values, through
  :func:`scipy.stats.permutation_test` (exact enumeration when the resamples would cover every
  permutation).

Effect sizes: :func:`cohens_d` (and d_z, paired), :func:`cohen_h` (two proportions) (Cohen
1988, "Statistical Power Analysis for the Behavioral Sciences").

Divergences: :func:`kullback_leibler` and :func:`jensen_shannon` of aligned probability or
count vectors (Lin 1991, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf.
Theory 37(1)); natural logarithms (nats).

Directions: :data:`HIGHER` and :data:`LOWER` say which way a diversity metric points,
:data:`DISTANCE` marks a divergence between two sources, :data:`NEUTRAL` a shift that is
neither more nor less diverse.

Text: :func:`format_p`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from rewardshift._exceptions import InputError, MetricUndefinedError

__all__ = [
    "DIRECTIONS",
    "DISTANCE",
    "HIGHER",
    "LOWER",
    "NEUTRAL",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "bounded_normal_ci",
    "cluster_bootstrap_share",
    "cohen_h",
    "cohens_d",
    "format_p",
    "half_sample_se",
    "jensen_shannon",
    "js_permutation",
    "kullback_leibler",
    "normal_ci",
    "permutation_test",
    "permutation_test_sets",
    "permutation_test_values",
    "wilson_ci",
]

HIGHER = "higher_more_diverse"  #: a higher value is more diverse (distinct-n, Vendi, ...)
LOWER = "lower_more_diverse"  #: a higher value is *less* diverse (self-BLEU, compression, ...)
DISTANCE = "distance"  #: a divergence between base and tuned: no diversity direction
NEUTRAL = "neutral"  #: a shift (e.g. mean sentiment): neither more nor less diverse
DIRECTIONS = (HIGHER, LOWER, DISTANCE, NEUTRAL)

_TIE = 1e-12  # a resampled statistic this close below the observed one counts as a tie


# --------------------------------------------------------------------------- text


def format_p(p: float | None, *, prefix: bool = True, missing: str = "no p-value",
             n_resamples: int | None = None, floor: float | None = None) -> str:
    """A p-value as text: below 0.001 as a bound, below 0.01 to 3 decimals, else 2 digits.

    A p-value of a resampling test at the smallest value that test can give (no resample
    as extreme as the observed statistic) is a bound, not an estimate: it reads
    ``"< 0.01 (100 resamples)"``, the floor rounded up to one significant digit.

    Parameters
    ----------
    p : float or None
        The p-value; ``None``, a non-number or a non-finite value gives ``missing``.
    prefix : bool, default=True
        Start with ``"p "`` (``"p = 0.012"``); without it, a table cell (``"0.012"``).
    missing : str, default="no p-value"
        The text when there is no p-value.
    n_resamples : int, optional
        The resamples ``R`` of the Monte Carlo test behind ``p``.
    floor : float, optional
        The smallest p that test can give; default ``1 / (R + 1)`` (:func:`permutation_test`,
        Phipson & Smyth 2010). A two-sided test that doubles its smaller tail
        (:func:`permutation_test_values`) has ``2 / (R + 1)``.

    Examples
    --------
    >>> [format_p(p) for p in (0.0004, 0.0042, 0.0312, 0.3141, 1.0, None)]
    ['p < 0.001', 'p = 0.004', 'p = 0.031', 'p = 0.31', 'p = 1', 'no p-value']
    >>> format_p(0.0004, prefix=False), format_p(0.3141, prefix=False)
    ('< 0.001', '0.31')
    >>> format_p(1 / 101, prefix=False, n_resamples=100)
    '< 0.01 (100 resamples)'
    """
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not math.isfinite(p):
        return missing
    if n_resamples is not None and n_resamples > 0:
        lowest = floor if floor is not None else 1.0 / (n_resamples + 1)
        if p <= lowest * (1 + 1e-9):
            text = f"< {_round_up(lowest):g} ({n_resamples:,} resamples)"
            return f"p {text}" if prefix else text
    if p < 0.001:
        text = "< 0.001"
    else:
        text = f"{p:.3f}" if p < 0.01 else f"{p:.2g}"
        text = f"= {text}" if prefix else text
    return f"p {text}" if prefix else text


def _round_up(x: float) -> float:
    """``x`` rounded up to one significant digit: 0.0099 -> 0.01, 0.0198 -> 0.02."""
    exp = math.floor(math.log10(x))
    digit = math.ceil(round(x / 10.0 ** exp, 9))
    return float(f"{digit}e{exp}") if digit < 10 else float(f"1e{exp + 1}")


# --------------------------------------------------------------------------- intervals


#: Indices one block of bootstrap resamples holds at most (2**24 int64: 128 MB); more
#: resamples of many units are drawn block by block from the same stream, same numbers.
MAX_BOOTSTRAP_CELLS = 2 ** 24


def bootstrap_ci(statistic: Callable[[np.ndarray], ArrayLike], n: int, *,
                 n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
                 method: str = "linear") -> tuple[Any, Any]:
    """Percentile-bootstrap interval of a statistic of ``n`` resampled units.

    Draws ``R = n_resamples`` resamples of the units ``0 .. n-1`` with replacement, as one
    ``(R, n)`` index matrix, and returns the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of the
    statistic's values over them (Efron & Tibshirani 1993, ch. 13).

    Parameters
    ----------
    statistic : callable
        Maps the index matrix, shape ``(R, n)``, to the statistic of every resample, shape
        ``(R',)`` or ``(R', k)`` for ``k`` statistics at once; it may leave out (``R' < R``)
        resamples on which it is undefined.
    n : int
        The number of units (prompts, points).
    n_resamples : int, default=2000
    confidence : float, default=0.95
    seed : int, default=0
    method : ``"linear"`` (interpolated quantiles) or ``"outward"`` (the order statistics
        just outside, ``numpy.quantile``'s ``"lower"`` / ``"higher"``: never narrower).

    Returns
    -------
    (lo, hi)
        Floats for a 1-D statistic, arrays of shape ``(k,)`` for ``k`` statistics.
    """
    if method not in ("linear", "outward"):
        raise InputError(f"method={method!r}; use 'linear' or 'outward'")
    rng = np.random.default_rng(seed)
    rows = max(1, MAX_BOOTSTRAP_CELLS // max(n, 1))  # the same draws, a block of rows at a time
    values = np.concatenate([np.asarray(statistic(rng.integers(0, n, size=(
        min(rows, n_resamples - start), n))), dtype=np.float64)
        for start in range(0, n_resamples, rows)])
    alpha = (1.0 - confidence) / 2.0
    if method == "outward":
        lo = np.quantile(values, alpha, axis=0, method="lower")
        hi = np.quantile(values, 1.0 - alpha, axis=0, method="higher")
    else:
        lo, hi = np.quantile(values, [alpha, 1.0 - alpha], axis=0)
    if values.ndim == 1:
        return float(lo), float(hi)
    return lo, hi


def bootstrap_mean_ci(values: np.ndarray, *, n_resamples: int = 2000,
                      confidence: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the mean of ``values``.

    :func:`bootstrap_ci` with the mean of the resampled values. Returns ``None`` for fewer
    than two values (no interval can be estimated).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    return bootstrap_ci(lambda idx: v[idx].mean(axis=1), v.size, n_resamples=n_resamples,
                        confidence=confidence, seed=seed)


def cluster_bootstrap_share(hits: Sequence[int], totals: Sequence[int], *,
                            n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
                            ) -> tuple[float, float]:
    """Percentile bootstrap interval of a pooled share, resampling prompts (clusters).

    ``share = sum(hits) / sum(totals)`` over a resample of prompts drawn with replacement
    (:func:`bootstrap_ci`): samples of one prompt move together, so their correlation widens
    the interval as it should (the cluster bootstrap; Field & Welsh 2007, "Bootstrapping
    clustered data", JRSS B 69(3)).
    """
    h = np.asarray(hits, dtype=np.float64)
    t = np.asarray(totals, dtype=np.float64)
    return bootstrap_ci(lambda idx: h[idx].sum(axis=1) / t[idx].sum(axis=1), h.size,
                        n_resamples=n_resamples, confidence=confidence, seed=seed)


def half_sample_se(statistic: Callable[[np.ndarray], Mapping[str, float]],
                   indices: np.ndarray, *, n_resamples: int = 200, min_size: int = 2,
                   seed: int = 0, strata: Sequence[np.ndarray] | None = None
                   ) -> dict[str, float]:
    """Delete-d jackknife standard errors of set statistics, d = n // 2.

    ``SE² = (n − d) / d · Var(θ_s)`` over ``n_resamples`` seeded subsets of size ``n − d``
    drawn without replacement (Shao & Wu 1989). ``statistic`` maps an index array to named
    values (several metrics share one evaluation). Returns ``{}`` when a half-sample would
    hold fewer than ``min_size`` samples or the statistic is undefined on one.

    With ``strata`` (disjoint index arrays, e.g. two image sets pooled), each stratum is
    halved on its own, so every half keeps members of each; ``n`` and ``d`` are then those of
    the first stratum, and ``indices`` is not used.
    """
    groups = [np.asarray(indices)] if strata is None else [np.asarray(g) for g in strata]
    halves = [len(g) // 2 for g in groups]
    n, d = len(groups[0]), halves[0]
    if min(halves) < 1 or min(len(g) - h for g, h in zip(groups, halves, strict=True)) < min_size:
        return {}
    rng = np.random.default_rng(seed)
    cols: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        sub = np.sort(np.concatenate([rng.choice(g, size=len(g) - h, replace=False)
                                      for g, h in zip(groups, halves, strict=True)]))
        try:
            res = statistic(sub)
        except MetricUndefinedError:
            return {}
        for k, v in res.items():
            cols.setdefault(k, []).append(v)
    return {k: float(np.sqrt((n - d) / d * np.var(v, ddof=1)))
            for k, v in cols.items() if len(v) == n_resamples}


def normal_ci(value: float, se: float | None, *, confidence: float = 0.95
              ) -> tuple[float, float] | None:
    """``value ± z·se`` with z the normal quantile; ``None`` when ``se`` is ``None``."""
    if se is None or not np.isfinite(se):
        return None
    z = sps.norm.ppf(0.5 + confidence / 2.0)
    return float(value - z * se), float(value + z * se)


def bounded_normal_ci(value: float, se: float | None, *, lower: float | None = 0.0,
                      confidence: float = 0.95) -> tuple[float, float] | None:
    """A normal interval for a quantity bounded below by ``lower``, on the log scale.

    ``lower + (value − lower) · exp(± z·se / (value − lower))``: the normal interval of
    ``log(value − lower)``, whose standard error is ``se / (value − lower)`` by the delta
    method, back-transformed. It never goes below ``lower`` and is wider above the value than
    below, as the sampling distribution of a distance, count or entropy near its floor is.
    At the bound (``value <= lower``) the log is undefined and the interval is
    :func:`normal_ci` clipped at ``lower``; ``lower=None`` is :func:`normal_ci` itself.
    ``None`` when ``se`` is ``None`` or not finite; the upper end is ``inf`` when ``se`` is
    hundreds of times the distance to the bound.

    Examples
    --------
    >>> normal_ci(0.02, 0.02)[0] < 0 <= bounded_normal_ci(0.02, 0.02)[0]
    True
    """
    ci = normal_ci(value, se, confidence=confidence)
    if ci is None or lower is None:
        return ci
    assert se is not None  # normal_ci returns None without one
    gap = value - lower
    if gap <= 0:
        return max(ci[0], lower), max(ci[1], lower)
    t = float(sps.norm.ppf(0.5 + confidence / 2.0) * se / gap)
    hi = lower + gap * math.exp(t) if t < 700 else math.inf  # exp overflows beyond ~709
    return float(lower + gap * math.exp(-t)), float(hi)


def wilson_ci(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (Wilson 1927, JASA 22(158))."""
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence,
                                                     method="wilson")
    return float(ci.low), float(ci.high)


# --------------------------------------------------------------------------- effect sizes


def cohens_d(a: np.ndarray, b: np.ndarray, *, paired: bool = False) -> float | None:
    """Standardised mean difference of ``b − a`` (Cohen 1988).

    Unpaired: Cohen's d with the pooled standard deviation. Paired: d_z, the mean of the
    differences over their standard deviation. ``None`` when the spread is zero or too few
    values (no finite effect size exists).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if paired:
        _check_paired(a, b)
        diff = b - a
        if diff.size < 2:
            return None
        sd = diff.std(ddof=1)
        return float(diff.mean() / sd) if sd > 0 else None
    if a.size < 2 or b.size < 2:
        return None
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1))
                     / (a.size + b.size - 2))
    return float((b.mean() - a.mean()) / pooled) if pooled > 0 else None


def cohen_h(p1: float, p2: float) -> float:
    """Cohen's h for two proportions: ``2 asin sqrt(p2) - 2 asin sqrt(p1)`` (Cohen 1988)."""
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def _check_paired(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(f"paired values need equal lengths, got {a.size} and {b.size}; "
                         "pair them by prompt_id first, or use paired=False")


# --------------------------------------------------------------------------- divergences


def kullback_leibler(p: np.ndarray, q: np.ndarray) -> float:
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` (nats) of two aligned probability vectors.

    Terms with ``p_k = 0`` contribute 0; ``inf`` where ``q_k = 0 < p_k``; at least 0.
    """
    m = p > 0
    if np.any(q[m] == 0):
        return math.inf
    return max(0.0, float(np.sum(p[m] * np.log(p[m] / q[m]))))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (nats) of two aligned vectors of counts or probabilities.

    ``JS = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``, after normalising each
    vector to sum 1 (Lin 1991). Equals ``scipy.spatial.distance.jensenshannon(p, q) ** 2``;
    in [0, log 2], symmetric, 0 iff ``p == q``. The vectors must have a positive sum.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)
    return float(min(math.log(2), 0.5 * kullback_leibler(p, m) + 0.5 * kullback_leibler(q, m)))


# --------------------------------------------------------------------------- tests


def permutation_test(statistic: Callable[[np.ndarray, np.ndarray], Mapping[str, float]],
                     a: np.ndarray, b: np.ndarray, *, paired: bool = False,
                     n_resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Monte Carlo permutation p-values of named two-sample statistics (larger = more extreme).

    Each of ``R = n_resamples`` seeded resamples either shuffles the pooled units and splits
    them into samples of the original sizes, each sorted (independent: a statistic of index
    sets sees them in store order), or swaps ``a_i`` and ``b_i`` with
    probability 1/2 for every pair (``paired=True``: sign flips of the differences). Per
    statistic, ``p = (1 + #{T_r >= T}) / (1 + R)`` (Phipson & Smyth 2010), counting values
    within 1e-12 below ``T`` as ties.

    Parameters
    ----------
    statistic : callable
        ``statistic(x, y) -> {name: T}``; for a two-sided test of a difference, ``T`` is its
        absolute value. A resample on which it raises :class:`MetricUndefinedError` is
        skipped (and not counted in ``R``); so is a name missing from one resample's result.
    a, b : arrays
        The two samples (any dtype: values, indices, labels). Paired: equal shapes.
    paired : bool, default=False
    n_resamples : int, default=2000
    seed : int, default=0

    Returns
    -------
    dict
        ``{name: p}``; ``{}`` when the statistic is undefined on ``(a, b)`` or on every
        resample.
    """
    a, b = np.asarray(a), np.asarray(b)
    if paired:
        _check_paired(a, b)
    try:
        observed = dict(statistic(a, b))
    except MetricUndefinedError:
        return {}
    hits = dict.fromkeys(observed, 0)
    pooled = np.concatenate([a, b])
    rng = np.random.default_rng(seed)
    done = 0
    for _ in range(n_resamples):
        if paired:
            swap = rng.integers(0, 2, size=a.shape) == 0
            x, y = np.where(swap, b, a), np.where(swap, a, b)
        else:
            perm = rng.permutation(pooled)
            x, y = np.sort(perm[: len(a)]), np.sort(perm[len(a):])
        try:
            t = statistic(x, y)
        except MetricUndefinedError:
            continue
        done += 1
        for k, v in observed.items():
            if k in t and t[k] >= v - _TIE:
                hits[k] += 1
    return {k: (1 + h) / (1 + done) for k, h in hits.items()} if done else {}


def permutation_test_values(a: np.ndarray, b: np.ndarray, *, paired: bool = False,
                            n_resamples: int = 2000, seed: int = 0) -> float | None:
    """Two-sided permutation p-value for a difference in means of ``b`` and ``a``.

    Paired (same prompts in both sets): random sign flips of the differences; unpaired:
    random reassignment of the pooled values. Uses :func:`scipy.stats.permutation_test`
    (exact when ``n_resamples`` covers every permutation). ``None`` when either side has
    fewer than two values; 1 when all values are equal.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if paired:
        _check_paired(a, b)
    if a.size < 2 or b.size < 2:
        return None
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0

    def mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        diff: np.ndarray = np.mean(y, axis=axis) - np.mean(x, axis=axis)
        return diff

    res = sps.permutation_test(
        (a, b), mean_diff, vectorized=True, n_resamples=n_resamples,
        permutation_type="samples" if paired else "independent",
        alternative="two-sided", random_state=np.random.default_rng(seed),
    )
    return float(res.pvalue)


def permutation_test_sets(statistic: Callable[[np.ndarray], Mapping[str, float]],
                          a: np.ndarray, b: np.ndarray, *, n_resamples: int = 200,
                          seed: int = 0) -> dict[str, float]:
    """Two-sided permutation p-values for differences of *set* statistics between two sets.

    ``a`` and ``b`` are index arrays into one shared feature store; each resample shuffles
    the pooled indices, splits them into sets of the original sizes and recomputes
    ``statistic`` (named values) on both. :func:`permutation_test` of
    ``|θ(b) − θ(a)|`` per value. ``{}`` when a set has fewer than two members.
    """
    if len(a) < 2 or len(b) < 2:
        return {}

    def abs_diff(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        sx, sy = statistic(x), statistic(y)
        return {k: abs(sy[k] - sx[k]) for k in sx if k in sy}

    return permutation_test(abs_diff, np.asarray(a), np.asarray(b), n_resamples=n_resamples,
                            seed=seed)


def js_permutation(codes_a: np.ndarray, codes_b: np.ndarray, *, n_resamples: int, seed: int
                   ) -> tuple[float, float | None]:
    """Jensen-Shannon divergence (nats) of two label arrays and its label-permutation p-value.

    Codes are integers ``0 .. K-1``; :func:`jensen_shannon` of their counts, against its
    values under random relabelling of the pooled samples (:func:`permutation_test`).
    Returns ``(js, p)``; ``(nan, None)`` when either side is empty.
    """
    a = np.asarray(codes_a, dtype=np.int64)
    b = np.asarray(codes_b, dtype=np.int64)
    if a.size == 0 or b.size == 0:
        return math.nan, None
    k = int(max(a.max(), b.max())) + 1

    def js(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return {"js": jensen_shannon(np.bincount(x, minlength=k), np.bincount(y, minlength=k))}

    p = permutation_test(js, a, b, n_resamples=n_resamples, seed=seed)
    return js(a, b)["js"], p.get("js")
