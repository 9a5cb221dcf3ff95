"""Distributional diversity of a categorical attribute (nationality, sentiment bin, answer class).

A *count vector* is a mapping ``{category: count}`` (as made by :func:`histogram`) or a 1-D
array read as the counts of categories ``0 .. K-1`` (keys ``"0" .. "K-1"``). Counts are finite
numbers ``>= 0`` (floats allowed: a probability vector is a count vector). Category keys are
compared as strings, so ``1`` and ``"1"`` are the same category.

Direction: :func:`entropy`, :func:`support_size`, :func:`coverage` and :func:`mass_coverage`
are higher = more diverse; :func:`kl_divergence`, :func:`js_divergence` and :func:`chi_square`
measure distance from a reference (0 = identical).

All logarithms are natural (nats) unless a ``base`` is given.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics.stats import jensen_shannon, kullback_leibler

__all__ = [
    "chi_square",
    "coverage",
    "entropy",
    "histogram",
    "js_divergence",
    "kl_divergence",
    "mass_coverage",
    "normalise",
    "support_size",
]

# keys Any, not Hashable: Mapping is invariant in its key type, so a dict[str, int] is not a
# Mapping[Hashable, float]
Counts = Mapping[Any, float] | np.ndarray | Sequence[float]


def histogram(values: Iterable[Hashable]) -> dict[str, int]:
    """Count each distinct value.

    Parameters
    ----------
    values : iterable of hashables
        One attribute value per sample. Keys are ``str(value)`` (``None`` becomes ``"None"``;
        filter missing values out first if they should not count).

    Returns
    -------
    dict[str, int]
        ``{str(value): count}`` sorted by count (descending), then key.

    Examples
    --------
    >>> histogram(["US", "FR", "US", "JP", "FR", "US"])
    {'US': 3, 'FR': 2, 'JP': 1}
    """
    if isinstance(values, (str, bytes)):
        raise InputError("histogram: got a single string; pass a list of values, "
                         f"e.g. [{values!r}]")
    counts = Counter(str(v) for v in values)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _as_counts(counts: object, name: str) -> dict[str, float]:
    """A validated ``{str(category): float count}`` dict (insertion order kept)."""
    if isinstance(counts, Mapping):
        items = [(str(k), v) for k, v in counts.items()]
    elif isinstance(counts, (str, bytes)):
        raise InputError(f"{name}: expected a {{category: count}} mapping or a 1-D array of "
                         f"counts, got a string {counts!r}; use histogram(values) first")
    else:
        try:
            arr = np.asarray(counts, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"{name}: expected a {{category: count}} mapping or a 1-D array of "
                             f"counts, got {type(counts).__name__}") from e
        if arr.ndim != 1:
            raise InputError(f"{name}: a count array must be 1-D, got shape {arr.shape}")
        items = [(str(i), v) for i, v in enumerate(arr.tolist())]
    out: dict[str, float] = {}
    for k, v in items:
        if k in out:
            raise InputError(f"{name}: two categories both read as {k!r} (keys are compared "
                             "as strings); merge them first")
        try:
            c = float(v)
        except (TypeError, ValueError) as e:
            raise InputError(f"{name}: count of {k!r} must be a number, got {v!r}") from e
        if not (math.isfinite(c) and c >= 0):
            raise InputError(f"{name}: count of {k!r} must be finite and >= 0, got {v!r}")
        out[k] = c
    return out


def _total(c: dict[str, float], name: str) -> float:
    total = math.fsum(c.values())
    if total <= 0:
        raise MetricUndefinedError(f"{name}: the counts sum to 0 ({len(c)} categories); "
                                   "a distribution needs at least one observation")
    return total


def _check_smoothing(smoothing: object, name: str) -> float:
    try:
        s = float(smoothing)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: smoothing must be a number >= 0, got {smoothing!r}") from e
    if not (math.isfinite(s) and s >= 0):
        raise InputError(f"{name}: smoothing must be finite and >= 0, got {smoothing!r}")
    return s


def entropy(counts: Counts, *, base: float = math.e) -> float:
    """Shannon entropy of the empirical distribution of ``counts``.

    ``H = -sum_k p_k log(p_k) / log(base)`` with ``p_k = c_k / sum_j c_j`` (plug-in estimate;
    zero counts contribute 0).

    Parameters
    ----------
    counts : mapping {category: count} or 1-D array
    base : float, default=math.e
        Logarithm base (``> 0``, ``!= 1``): e gives nats, 2 gives bits.

    Returns
    -------
    float
        In [0, log(K)/log(base)] for K categories with positive count; higher = more diverse.

    Raises
    ------
    MetricUndefinedError
        When the counts sum to 0.

    Examples
    --------
    >>> entropy({"a": 1, "b": 1, "c": 1, "d": 1}, base=2)
    2.0
    >>> entropy([5, 0])
    0.0
    """
    try:
        b = float(base)
    except (TypeError, ValueError):
        b = math.nan
    if not (math.isfinite(b) and b > 0 and b != 1):
        raise InputError(f"entropy: base must be a finite number > 0 and != 1, got {base!r}")
    c = _as_counts(counts, "entropy")
    p = np.array(list(c.values())) / _total(c, "entropy")
    p = p[p > 0]
    return max(0.0, float(-np.sum(p * np.log(p))) / math.log(b))


def support_size(counts: Counts) -> int:
    """Number of categories with a positive count; higher = more diverse.

    Examples
    --------
    >>> support_size({"US": 3, "FR": 0, "JP": 1})
    2
    """
    return sum(1 for v in _as_counts(counts, "support_size").values() if v > 0)


def normalise(counts: Counts, *, support: Iterable[Hashable] | None = None,
              smoothing: float = 0.0) -> dict[str, float]:
    """Turn counts into probabilities, with optional additive smoothing over a support.

    ``p_k = (c_k + s) / (N + s |S|)`` for every ``k`` in the support ``S``, with
    ``N = sum_{k in S} c_k`` and ``s = smoothing``.

    Parameters
    ----------
    counts : mapping {category: count} or 1-D array
    support : iterable of categories, optional
        The categories to give probabilities to, in this order (keys compared as strings).
        Categories missing from ``counts`` get count 0. Every category with a positive count
        must be in it. Default: the keys of ``counts``, in their order.
    smoothing : float, default=0.0
        Pseudo-count added to every category of the support (0.5 = Jeffreys / Krichevsky-
        Trofimov, 1 = Laplace).

    Returns
    -------
    dict[str, float]
        Probabilities over the support, summing to 1.

    Raises
    ------
    MetricUndefinedError
        When the total (counts plus pseudo-counts) is 0.

    Examples
    --------
    >>> normalise({"a": 3, "b": 1})
    {'a': 0.75, 'b': 0.25}
    >>> normalise({"a": 2}, support=["a", "b"], smoothing=1)
    {'a': 0.75, 'b': 0.25}
    """
    c = _as_counts(counts, "normalise")
    s = _check_smoothing(smoothing, "normalise")
    if support is None:
        keys = list(c)
    else:
        if isinstance(support, (str, bytes)):
            raise InputError(f"normalise: support must be an iterable of categories, got the "
                             f"string {support!r}")
        keys = list(dict.fromkeys(str(k) for k in support))
        known = set(keys)
        missing = [k for k, v in c.items() if v > 0 and k not in known]
        if missing:
            raise InputError(f"normalise: categories {missing[:5]!r} have positive counts but "
                             "are not in `support`; add them to the support")
    vals = np.array([c.get(k, 0.0) for k in keys], dtype=np.float64) + s
    total = math.fsum(vals.tolist())
    if total <= 0:
        raise MetricUndefinedError("normalise: counts sum to 0 and smoothing is 0 over a "
                                   f"support of {len(keys)} categories; nothing to normalise")
    return dict(zip(keys, (vals / total).tolist(), strict=True))


def _aligned(p_counts: Counts, q_counts: Counts, name: str,
             ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The union support (categories positive in either) and both count vectors on it."""
    p = _as_counts(p_counts, f"{name} (first argument)")
    q = _as_counts(q_counts, f"{name} (second argument)")
    _total(p, f"{name} (first argument)")
    _total(q, f"{name} (second argument)")
    keys = [k for k in dict.fromkeys([*p, *q]) if p.get(k, 0.0) > 0 or q.get(k, 0.0) > 0]
    pv = np.array([p.get(k, 0.0) for k in keys])
    qv = np.array([q.get(k, 0.0) for k in keys])
    return keys, pv, qv


def _smoothed(v: np.ndarray, s: float) -> np.ndarray:
    v = v + s
    p: np.ndarray = v / v.sum()
    return p


def kl_divergence(p_counts: Counts, q_counts: Counts, *, smoothing: float = 0.5) -> float:
    """Kullback-Leibler divergence ``KL(p || q)`` (nats) between two count vectors.

    Over the union support ``S`` (categories with a positive count in ``p`` or ``q``), both are
    smoothed additively: ``p_k = (c^p_k + s) / (N_p + s |S|)`` and likewise ``q_k``; then
    ``KL = sum_k p_k log(p_k / q_k)``.

    Parameters
    ----------
    p_counts, q_counts : mapping {category: count} or 1-D array
        Typically ``p`` = the tuned model's attribute counts, ``q`` = the reference's.
    smoothing : float, default=0.5
        Pseudo-count ``s`` (0.5 = Jeffreys / Krichevsky-Trofimov, 1 = Laplace). It keeps KL
        finite when ``p`` has a category that ``q`` never produced. With ``smoothing=0`` such a
        category makes the result ``inf``.

    Returns
    -------
    float
        In [0, inf]; 0 iff the (smoothed) distributions are equal. Not symmetric. A divergence
        from the reference, not a diversity: higher = further away.

    Raises
    ------
    MetricUndefinedError
        When either count vector sums to 0.

    Examples
    --------
    >>> kl_divergence({"a": 5, "b": 5}, {"a": 5, "b": 5})
    0.0
    >>> round(kl_divergence({"a": 3, "b": 1}, {"a": 1, "b": 1}, smoothing=0), 6)  # log 2 - H(3/4)
    0.130812
    """
    s = _check_smoothing(smoothing, "kl_divergence")
    _, p, q = _aligned(p_counts, q_counts, "kl_divergence")
    return kullback_leibler(_smoothed(p, s), _smoothed(q, s))


def js_divergence(p_counts: Counts, q_counts: Counts) -> float:
    """Jensen-Shannon divergence (nats) between two count vectors.

    ``JS = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``, ``p`` and ``q`` the
    normalised counts (no smoothing needed: ``m > 0`` wherever ``p`` or ``q`` is). Equals
    ``scipy.spatial.distance.jensenshannon(p, q) ** 2``; computed by
    :func:`rewardshift.metrics.stats.jensen_shannon` on the union support.

    Parameters
    ----------
    p_counts, q_counts : mapping {category: count} or 1-D array

    Returns
    -------
    float
        In [0, log 2]; 0 iff ``p == q``; symmetric. Higher = further apart.

    Raises
    ------
    MetricUndefinedError
        When either count vector sums to 0.

    Notes
    -----
    Lin 1991, "Divergence measures based on the Shannon entropy" (IEEE Trans. Inf. Theory).

    Examples
    --------
    >>> js_divergence({"a": 1}, {"b": 7}) == math.log(2)
    True
    """
    _, p, q = _aligned(p_counts, q_counts, "js_divergence")
    return jensen_shannon(p, q)


def chi_square(observed_counts: Counts, expected_counts: Counts, *,
               smoothing: float = 0.5) -> tuple[float, float]:
    """Pearson chi-square goodness-of-fit of observed counts against an expected distribution.

    Over the union support ``S`` (categories positive in either), an expected count of 0 is
    replaced by the pseudo-count ``s`` (``c'_k = c^e_k`` if ``c^e_k > 0`` else ``s``) and the
    result is rescaled to the observed total ``N``: ``e_k = N c'_k / sum_j c'_j``. Then
    ``X^2 = sum_k (o_k - e_k)^2 / e_k`` with ``|S| - 1`` degrees of freedom, and the p-value
    from ``scipy.stats.chisquare``. When the reference covers every observed category this is
    the textbook test, untouched by ``s``.

    Parameters
    ----------
    observed_counts : mapping {category: count} or 1-D array
        Counts of the sample being tested (e.g. the tuned model's nationalities).
    expected_counts : mapping {category: count} or 1-D array
        The reference counts or probabilities (any scale).
    smoothing : float, default=0.5
        Pseudo-count ``s`` (on the scale of ``expected_counts``) given to a category that was
        observed but has expected count 0 (a nationality the reference never produced): a
        small positive expectation instead of a division by 0, so such a category drives
        ``X^2`` up sharply. With ``smoothing=0`` it raises :class:`MetricUndefinedError`.

    Returns
    -------
    statistic : float
        ``X^2 >= 0``; 0 when observed is proportional to expected. Higher = further apart.
    pvalue : float
        In [0, 1]; small = observed is unlikely under the expected distribution.

    Raises
    ------
    MetricUndefinedError
        When either vector sums to 0, fewer than 2 categories are involved (0 degrees of
        freedom), or ``smoothing=0`` leaves an expected count of 0.

    Examples
    --------
    >>> stat, p = chi_square({"a": 10, "b": 10}, {"a": 1, "b": 1})
    >>> stat, p
    (0.0, 1.0)
    """
    s = _check_smoothing(smoothing, "chi_square")
    keys, o, e = _aligned(observed_counts, expected_counts, "chi_square")
    if len(keys) < 2:
        raise MetricUndefinedError(f"chi_square: only {len(keys)} category ({keys!r}) is "
                                   "involved, so the test has 0 degrees of freedom")
    e = np.where(e > 0, e, s)
    if np.any(e == 0):
        bad = [k for k, v in zip(keys, e, strict=True) if v == 0]
        raise MetricUndefinedError(f"chi_square: expected count is 0 for categories {bad[:5]!r}"
                                   " that were observed; pass smoothing > 0")
    e = e * (o.sum() / e.sum())
    res = stats.chisquare(o, e)
    return float(res.statistic), float(res.pvalue)


def coverage(p_counts: Counts, reference_counts: Counts) -> float:
    """Fraction of the reference's categories that ``p`` produces at least once.

    ``C = |{k : r_k > 0 and p_k > 0}| / |{k : r_k > 0}|``.

    Parameters
    ----------
    p_counts, reference_counts : mapping {category: count} or 1-D array

    Returns
    -------
    float
        In [0, 1]; higher = more diverse (more of the reference's range kept).

    Raises
    ------
    MetricUndefinedError
        When the reference has no category with a positive count.

    Examples
    --------
    >>> coverage({"US": 9, "FR": 1}, {"US": 5, "FR": 3, "JP": 1, "BR": 1})
    0.5
    """
    p, ref = _coverage_inputs(p_counts, reference_counts, "coverage")
    ref_keys = [k for k, v in ref.items() if v > 0]
    return sum(1 for k in ref_keys if p.get(k, 0.0) > 0) / len(ref_keys)


def mass_coverage(p_counts: Counts, reference_counts: Counts) -> float:
    """Share of the reference's probability mass on categories that ``p`` produces.

    ``M = sum_{k : p_k > 0} r_k / sum_k r_k``.

    Parameters
    ----------
    p_counts, reference_counts : mapping {category: count} or 1-D array

    Returns
    -------
    float
        In [0, 1]; higher = more diverse. ``M >= coverage`` when ``p`` keeps the common
        categories and loses the rare ones (the typical effect of tuning).

    Raises
    ------
    MetricUndefinedError
        When the reference counts sum to 0.

    Examples
    --------
    >>> mass_coverage({"US": 9, "FR": 1}, {"US": 5, "FR": 3, "JP": 1, "BR": 1})
    0.8
    """
    p, ref = _coverage_inputs(p_counts, reference_counts, "mass_coverage")
    total = math.fsum(ref.values())
    return math.fsum(v for k, v in ref.items() if p.get(k, 0.0) > 0) / total


def _coverage_inputs(p_counts: Counts, reference_counts: Counts, name: str,
                     ) -> tuple[dict[str, float], dict[str, float]]:
    p = _as_counts(p_counts, f"{name} (first argument)")
    ref = _as_counts(reference_counts, f"{name} (reference)")
    _total(ref, f"{name} (reference)")
    return p, ref
