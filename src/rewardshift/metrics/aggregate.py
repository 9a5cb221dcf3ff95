"""Aggregation of diversity metrics: per input, across inputs (and the quality mask).

The intervals and tests named below live in :mod:`rewardshift.metrics.stats`; their old names
here still work for one release, with a DeprecationWarning.

Two scopes, after Kirk et al. 2023 ("Understanding the effects of RLHF on LLM generalisation
and diversity", arXiv 2310.06452):

* **per-input** — a metric computed among the K samples of one prompt (``prompt_id``), then
  averaged over prompts. Preference tuning collapses this one most.
* **across-input** — a metric computed over one sample per prompt (seeded choice), or over a
  seeded pooled subsample of all samples.

Confidence intervals:

* per-input values are means over prompts: percentile bootstrap over prompts
  (:func:`~rewardshift.metrics.stats.bootstrap_mean_ci`).
* across-input values are statistics of a whole set. Resampling *with* replacement would put
  duplicates into the set, and duplicates read as lost diversity, so the bootstrap is biased
  here. We use the delete-d jackknife with d = n/2 instead (Shao & Wu 1989, "A general theory
  for jackknife variance estimation", Ann. Stat. 17(3)): the statistic on R seeded half-samples
  drawn without replacement gives ``SE² = (n−d)/d · Var_R(θ_s)``, and the interval is
  ``θ ± z·SE`` (:func:`~rewardshift.metrics.stats.half_sample_se`).

Comparisons (base vs tuned): a permutation test on prompt-level values (paired sign-flip when
both sets answer the same prompts) with Cohen's d, or, across inputs, a permutation of the
pooled set with the statistic recomputed on each split, with ``z = Δ / √(SE_a² + SE_b²)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from rewardshift._deprecated import moved
from rewardshift._exceptions import InputError

__all__ = ["across_indices", "group_indices", "quality_mask"]

# The intervals and tests moved to rewardshift.metrics.stats (the old names warn, one release).
__getattr__ = moved(__name__, dict.fromkeys(
    ["bootstrap_mean_ci", "cohens_d", "half_sample_se", "normal_ci", "permutation_test_sets",
     "permutation_test_values"], "rewardshift.metrics.stats"))


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
                             "number in the quality field, or no quality filter",
                             option="quality_field")
        q[i] = v
    return q >= threshold
