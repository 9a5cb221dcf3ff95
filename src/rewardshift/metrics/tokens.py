"""Token-level diversity: next-token entropy and branching factor from top-k log-probabilities.

Input everywhere is ``top_logprobs``: per sample, per generated position, a ``{token: logprob}``
mapping of the top-k candidates (the ``Sample.top_logprobs`` field; OpenAI-compatible servers
return it with ``logprobs=True, top_logprobs=k``).

At each position the top-k log-probabilities are renormalised to a distribution
``p_t(v) = exp(l_v) / sum_{w in top-k} exp(l_w)`` and its entropy (nats) is taken. This is
the entropy of the renormalised top-k distribution, exact when k covers the support; with a
truncated k it is an estimate whose bias depends on the tail (so compare models at equal k).

Direction: every metric here is higher = more diverse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from rewardshift._exceptions import InputError, MetricUndefinedError

__all__ = [
    "branching_factor",
    "entropy_by_position",
    "next_token_entropy",
    "next_token_entropy_per_sample",
    "position_entropies",
]

#: A log-probability above this is refused (log-probabilities are <= 0; a little slack is
#: left for servers that round).
_MAX_LOGPROB = 1e-4


def position_entropies(top_logprobs_one_sample: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Entropy (nats) of the renormalised top-k next-token distribution at each position.

    ``H_t = -sum_v p_t(v) log p_t(v)`` with ``p_t(v) = exp(l_{t,v}) / sum_w exp(l_{t,w})``
    over the top-k candidates ``v`` at position ``t``.

    Parameters
    ----------
    top_logprobs_one_sample : sequence of mappings, length T
        One ``{token: logprob}`` mapping per generated position of one sample. Log-probs are
        finite numbers <= 0, or ``-inf`` (probability 0); each mapping needs at least one
        finite entry.

    Returns
    -------
    ndarray of shape (T,), float64
        Each entry in [0, log k]; higher = more diverse. The entropy of the renormalised
        top-k distribution, exact when k covers the support.

    Examples
    --------
    >>> import math
    >>> lp = math.log(0.25)
    >>> position_entropies([{"a": lp, "b": lp, "c": lp, "d": lp}, {"a": 0.0}]).round(4)
    array([1.3863, 0.    ])
    """
    return _position_entropies(_check_sample(top_logprobs_one_sample, 0))


def _check_sample(sample: object, index: int) -> np.ndarray:
    """One sample's positions as a (T, k_max) float64 array of log-probs, padded with -inf."""
    if isinstance(sample, (str, bytes, Mapping)) or not isinstance(sample, Sequence):
        raise InputError(f"top_logprobs[{index}]: expected a sequence of {{token: logprob}} "
                         f"mappings (one per generated position), got {type(sample).__name__}")
    rows = []
    for t, pos in enumerate(sample):
        if not isinstance(pos, Mapping):
            raise InputError(f"top_logprobs[{index}][{t}]: expected a {{token: logprob}} mapping, "
                             f"got {type(pos).__name__}")
        try:
            rows.append(np.fromiter(pos.values(), dtype=np.float64, count=len(pos)))
        except (TypeError, ValueError) as e:
            raise InputError(f"top_logprobs[{index}][{t}]: log-probabilities must be numbers, "
                             f"got {dict(pos)!r}") from e
    k = max((len(r) for r in rows), default=1)
    arr = np.full((len(rows), k), -np.inf)
    for t, r in enumerate(rows):
        arr[t, : len(r)] = r
    bad = np.isnan(arr) | (arr > _MAX_LOGPROB)
    if bad.any():
        t = int(np.argwhere(bad)[0][0])
        raise InputError(f"top_logprobs[{index}][{t}]: log-probabilities must be <= 0 and not "
                         f"NaN, got {dict(sample[t])!r}")
    empty = ~np.isfinite(arr).any(axis=1)
    if empty.any():
        t = int(np.argmax(empty))
        raise InputError(f"top_logprobs[{index}][{t}]: needs at least one finite log-probability, "
                         f"got {dict(sample[t])!r}")
    return arr


def _position_entropies(lp: np.ndarray) -> np.ndarray:
    """Row-wise entropy of ``softmax(lp)``; ``lp`` (T, k) validated, -inf allowed as padding."""
    if lp.shape[0] == 0:
        return np.zeros(0)
    z = lp - lp.max(axis=1, keepdims=True)  # max is finite: validated
    w = np.exp(z)
    total = w.sum(axis=1)
    p = w / total[:, None]
    # -sum p log p with log p = z - log(total); p = 0 entries (z = -inf) contribute 0.
    logp = np.where(p > 0, z, 0.0) - np.log(total)[:, None]
    h: np.ndarray = np.maximum(-(p * logp).sum(axis=1), 0.0)
    return h


def _all_entropies(top_logprobs: object) -> list[np.ndarray]:
    if isinstance(top_logprobs, (str, bytes, Mapping)) or not isinstance(top_logprobs, Sequence):
        raise InputError("top_logprobs: expected a sequence of samples, each a sequence of "
                         f"{{token: logprob}} mappings, got {type(top_logprobs).__name__}")
    return [_position_entropies(_check_sample(s, i)) for i, s in enumerate(top_logprobs)]


def next_token_entropy(top_logprobs: Sequence[Sequence[Mapping[str, float]]]) -> float:
    """Mean next-token entropy (nats) over all positions of all samples.

    ``H = (1 / sum_s T_s) * sum_s sum_t H_{s,t}`` (positions pooled, so long samples weigh
    more; see :func:`next_token_entropy_per_sample` for per-sample means).

    Parameters
    ----------
    top_logprobs : sequence of samples, each a sequence of ``{token: logprob}`` mappings

    Returns
    -------
    float
        In [0, log k]; higher = more diverse.

    Raises
    ------
    MetricUndefinedError
        When there is no position at all.

    Notes
    -----
    Mohammadi 2024 (arXiv 2406.05587) finds aligned models have lower next-token entropy.

    Examples
    --------
    >>> import math
    >>> u = {"a": math.log(0.5), "b": math.log(0.5)}
    >>> round(next_token_entropy([[u, {"a": 0.0}], [u]]), 4)  # (log 2 + 0 + log 2) / 3
    0.4621
    """
    ents = _all_entropies(top_logprobs)
    pooled = np.concatenate(ents) if ents else np.zeros(0)
    if pooled.size == 0:
        raise MetricUndefinedError(f"next_token_entropy: no generated positions in "
                                   f"{len(ents)} sample(s); it needs per-token top_logprobs")
    return float(pooled.mean())


def next_token_entropy_per_sample(top_logprobs: Sequence[Sequence[Mapping[str, float]]]
                                  ) -> np.ndarray:
    """Mean next-token entropy (nats) of each sample.

    Parameters
    ----------
    top_logprobs : sequence of samples, each a sequence of ``{token: logprob}`` mappings

    Returns
    -------
    ndarray of shape (n_samples,), float64
        Each in [0, log k]; higher = more diverse. NaN for a sample with no positions (an empty
        generation): drop those with ``np.isnan`` before averaging.

    Examples
    --------
    >>> import math
    >>> u = {"a": math.log(0.5), "b": math.log(0.5)}
    >>> next_token_entropy_per_sample([[u, {"a": 0.0}], [u], []]).round(4)
    array([0.3466, 0.6931,    nan])
    """
    ents = _all_entropies(top_logprobs)
    return np.array([e.mean() if e.size else math.nan for e in ents], dtype=np.float64)


def branching_factor(top_logprobs: Sequence[Sequence[Mapping[str, float]]]) -> float:
    """Branching factor: ``BF = exp(mean next-token entropy)``, the effective number of choices.

    ``BF = exp(H)`` with ``H`` from :func:`next_token_entropy` (positions pooled).

    Parameters
    ----------
    top_logprobs : sequence of samples, each a sequence of ``{token: logprob}`` mappings

    Returns
    -------
    float
        In [1, k]; higher = more diverse. 1 when every step is deterministic; k when every
        step is uniform over the top-k.

    Raises
    ------
    MetricUndefinedError
        When there is no position at all.

    Notes
    -----
    Yang & Holtzman 2025, "LLM Probability Concentration: How Alignment Shrinks the Generative
    Horizon" (arXiv 2506.17871): alignment lowers BF by 2-5x.

    Examples
    --------
    >>> import math
    >>> u = {t: math.log(0.25) for t in "abcd"}
    >>> round(branching_factor([[u, u]]), 6)
    4.0
    """
    return math.exp(next_token_entropy(top_logprobs))


def entropy_by_position(top_logprobs: Sequence[Sequence[Mapping[str, float]]], *,
                        max_len: int | None = None) -> np.ndarray:
    """Mean next-token entropy (nats) at each position, across the samples that reach it.

    ``h_t = mean_{s : T_s > t} H_{s,t}`` for ``t = 0 .. L-1``, ``L = max_s T_s`` (capped at
    ``max_len``). Every returned position has at least one sample, so the result has no NaN.

    Parameters
    ----------
    top_logprobs : sequence of samples, each a sequence of ``{token: logprob}`` mappings
    max_len : int or None, default=None
        Keep at most the first ``max_len`` positions (``>= 1``).

    Returns
    -------
    ndarray of shape (L,), float64
        Each in [0, log k]; higher = more diverse. Empty when no sample has a position.

    Examples
    --------
    >>> import math
    >>> u = {"a": math.log(0.5), "b": math.log(0.5)}
    >>> entropy_by_position([[u, {"a": 0.0}], [u]]).round(4)
    array([0.6931, 0.    ])
    """
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                or max_len < 1):
        raise InputError(f"entropy_by_position: max_len must be a positive int or None, "
                         f"got {max_len!r}")
    ents = _all_entropies(top_logprobs)
    length = max((e.size for e in ents), default=0)
    if max_len is not None:
        length = min(length, max_len)
    sums = np.zeros(length)
    counts = np.zeros(length)
    for e in ents:
        m = min(e.size, length)
        sums[:m] += e[:m]
        counts[:m] += 1
    return sums / counts
