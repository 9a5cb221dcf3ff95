"""Aggregation of diversity metrics: per input, across inputs, confidence intervals, comparisons.

Two scopes, after Kirk et al. 2023 ("Understanding the effects of RLHF on LLM generalisation
and diversity", arXiv 2310.06452):

* **per-input** — a metric computed among the K samples of one prompt (``prompt_id``), then
  averaged over prompts. Preference tuning collapses this one most.
* **across-input** — a metric computed over one sample per prompt (seeded choice), or over a
  seeded pooled subsample of all samples.

Confidence intervals:

* per-input values are means over prompts: percentile bootstrap over prompts
  (:func:`bootstrap_mean_ci`).
* across-input values are statistics of a whole set. Resampling *with* replacement would put
  duplicates into the set, and duplicates read as lost diversity, so the bootstrap is biased
  here. We use the delete-d jackknife with d = n/2 instead (Shao & Wu 1989, "A general theory
  for jackknife variance estimation", Ann. Stat. 17(3)): the statistic on R seeded half-samples
  drawn without replacement gives ``SE² = (n−d)/d · Var_R(θ_s)``, and the interval is
  ``θ ± z·SE`` (:func:`half_sample_se`).

Comparisons (base vs tuned): a permutation test on prompt-level values (paired sign-flip when
both sets answer the same prompts) with Cohen's d, or, across inputs, a permutation of the
pooled set with the statistic recomputed on each split, with ``z = Δ / √(SE_a² + SE_b²)``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np
from scipy import stats

from rewardshift._exceptions import InputError, MetricUndefinedError

__all__ = [
    "across_indices",
    "bootstrap_mean_ci",
    "cohens_d",
    "group_indices",
    "half_sample_se",
    "normal_ci",
    "permutation_test_sets",
    "permutation_test_values",
    "quality_mask",
]


def group_indices(prompt_ids: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
    """Indices of the samples of each prompt, prompts in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for i, pid in enumerate(prompt_ids):
        groups.setdefault(pid, []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}


def across_indices(prompt_ids: Sequence[Hashable], *, mode: str = "one_per_prompt",
                   size: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of an across-input set.

    Parameters
    ----------
    prompt_ids : the ``prompt_id`` of each sample.
    mode : ``"one_per_prompt"`` (one seeded sample per prompt, Kirk et al. 2023) or
        ``"pooled"`` (a seeded subsample of all samples, regardless of prompt).
    size : the pooled subsample's size (default: the number of prompts); for
        ``"one_per_prompt"``, an optional cap on the number of prompts used.
    seed : the seed of every choice made here.
    """
    rng = np.random.default_rng(seed)
    n = len(prompt_ids)
    if mode == "one_per_prompt":
        groups = group_indices(prompt_ids)
        idx = np.array([g[rng.integers(len(g))] for g in groups.values()], dtype=np.int64)
    elif mode == "pooled":
        k = min(n, size if size is not None else len(group_indices(prompt_ids)))
        idx = np.sort(rng.choice(n, size=k, replace=False))
        return idx
    else:
        raise InputError(f"mode={mode!r}; use 'one_per_prompt' or 'pooled'")
    if size is not None and len(idx) > size:
        idx = np.sort(rng.choice(idx, size=size, replace=False))
    return idx


def bootstrap_mean_ci(values: np.ndarray, *, n_resamples: int = 2000,
                      confidence: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the mean of ``values``.

    Returns ``None`` for fewer than two values (no interval can be estimated).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def half_sample_se(statistic: Callable[[np.ndarray], Mapping[str, float]],
                   indices: np.ndarray, *, n_resamples: int = 200, min_size: int = 2,
                   seed: int = 0) -> dict[str, float]:
    """Delete-d jackknife standard errors of set statistics, d = n // 2.

    ``SE² = (n − d) / d · Var(θ_s)`` over ``n_resamples`` seeded subsets of size ``n − d``
    drawn without replacement (Shao & Wu 1989). ``statistic`` maps an index array to named
    values (several metrics share one evaluation). Returns ``{}`` when a half-sample would
    hold fewer than ``min_size`` samples or the statistic is undefined on one.
    """
    n = len(indices)
    d = n // 2
    if d < 1 or n - d < min_size:
        return {}
    rng = np.random.default_rng(seed)
    cols: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        sub = np.sort(rng.choice(indices, size=n - d, replace=False))
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
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    return float(value - z * se), float(value + z * se)


def cohens_d(a: np.ndarray, b: np.ndarray, *, paired: bool = False) -> float | None:
    """Standardised mean difference of ``b − a``.

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


def _check_paired(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(f"paired values need equal lengths, got {a.size} and {b.size}; "
                         "pair them by prompt_id first, or use paired=False")


def permutation_test_values(a: np.ndarray, b: np.ndarray, *, paired: bool = False,
                            n_resamples: int = 2000, seed: int = 0) -> float | None:
    """Two-sided permutation p-value for a difference in means of ``b`` and ``a``.

    Paired (same prompts in both sets): random sign flips of the differences; unpaired:
    random reassignment of the pooled values. Uses :func:`scipy.stats.permutation_test`.
    ``None`` when either side has fewer than two values.
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
        return np.mean(y, axis=axis) - np.mean(x, axis=axis)

    res = stats.permutation_test(
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
    ``statistic`` (named values) on both. p = (1 + #{|Δ_r| ≥ |Δ|}) / (1 + R) per value
    (Phipson & Smyth 2010). Splits on which the statistic is undefined are skipped.
    """
    if len(a) < 2 or len(b) < 2:
        return {}
    try:
        obs_a, obs_b = statistic(a), statistic(b)
    except MetricUndefinedError:
        return {}
    observed = {k: abs(obs_b[k] - obs_a[k]) for k in obs_a if k in obs_b}
    hits = dict.fromkeys(observed, 0)
    pooled = np.concatenate([a, b])
    rng = np.random.default_rng(seed)
    done = 0
    for _ in range(n_resamples):
        perm = rng.permutation(pooled)
        try:
            pa, pb = statistic(np.sort(perm[: len(a)])), statistic(np.sort(perm[len(a):]))
        except MetricUndefinedError:
            continue
        done += 1
        for k in observed:
            if k in pa and k in pb and abs(pb[k] - pa[k]) >= observed[k] - 1e-12:
                hits[k] += 1
    return {k: (1 + h) / (1 + done) for k, h in hits.items()} if done else {}


def quality_mask(quality: Sequence[float | None], *, threshold: float) -> np.ndarray:
    """Boolean mask of samples whose quality is at least ``threshold``.

    The basis of quality-conditioned ("effective") diversity: diversity is measured only
    among samples that pass the quality bar, so that gibberish never counts as creative.

    Raises
    ------
    InputError
        when a quality value is missing or not finite; the message names the sample.
    """
    q = np.empty(len(quality))
    for i, v in enumerate(quality):
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) \
                or not np.isfinite(v):
            raise InputError(f"sample #{i + 1} has quality {v!r}; every sample needs a finite "
                             "number in the quality field, or drop --quality")
        q[i] = v
    return q >= threshold
