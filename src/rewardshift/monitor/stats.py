"""Per-step statistics of one batch of completions, for watching a training run.

:func:`step_statistics` turns the completions of one training step (GRPO / RLOO sample several
per prompt) into a flat ``{name: float}`` row ready for any logger. Every diversity number is
computed by :mod:`rewardshift.metrics` itself -- :func:`~rewardshift.metrics.lexical.distinct_n`,
:func:`~rewardshift.metrics.lexical.self_bleu`,
:func:`~rewardshift.metrics.semantic.embedding_diversity` on
:func:`~rewardshift.metrics.embed.embed_texts` -- on tokens from
:func:`~rewardshift.metrics.tokenize.tokenize_all`, so the monitor's numbers equal the metrics
library's on the same completions.

Keys (each present only when defined on the batch; never NaN):

===============================  =========  =========================================================
key                              direction  definition
===============================  =========  =========================================================
``n_completions``, ``n_groups``             batch size; number of distinct group ids
``within_distinct_2``            ↑          mean over groups with >= 2 completions of distinct-2
                                            among that group's completions (groups whose
                                            completions have no 2-gram are left out of the mean)
``within_self_bleu_4``           ↓          same mean of self-BLEU-4
``within_embedding_diversity``   ↑          same mean of embedding diversity (``embed=True``)
``across_distinct_2``            ↑          distinct-2 of the *first* completion of every group
                                            (needs >= 2 groups)
``across_self_bleu_4``           ↓          self-BLEU-4 of those first completions
``across_embedding_diversity``   ↑          embedding diversity of those (``embed=True``)
``repetition_rate``              ↓          share of completions whose most frequent 3-gram
                                            (token trigram) occurs >= 3 times in it; completions
                                            of fewer than 3 tokens count as not repetitive
``empty_rate``                   ↓          share of completions with no token
``mean_length``                             mean number of tokens per completion
``proxy_mean``, ``proxy_std``               mean and population std of the proxy reward
``gold_mean``, ``gold_std``                 the same for the gold reward
``proxy_gold_spearman``          ↑          Spearman rank correlation of proxy and gold over the
                                            batch, in [-1, 1]: does the proxy still rank the
                                            completions as the gold does? (needs >= 3 completions
                                            and neither reward constant)
===============================  =========  =========================================================

A key that cannot be computed on a batch (one completion per group, one group, empty strings,
a constant reward) is left out, and the returned mapping's ``notes`` says why -- a missing value
is never written as NaN, so loggers and :class:`~rewardshift.monitor.alarm.HackingAlarm` see
only real numbers.

"the the the the the" is the repetition this module is meant to catch: its most frequent 3-gram
"the the the" occurs 3 times, so it counts as repetitive (``repetition_rate`` = 1.0 for a batch
of them), and its distinct-2 is 0.25 (1 unique 2-gram of 4).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from scipy import stats as _sps

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics.embed import embed_texts
from rewardshift.metrics.lexical import distinct_n, self_bleu
from rewardshift.metrics.semantic import embedding_diversity
from rewardshift.metrics.tokenize import WordTokenizer, tokenize_all

__all__ = ["REPETITION_MIN_COUNT", "REPETITION_N", "StepStatistics", "step_statistics"]

#: A completion is repetitive when its most frequent ``REPETITION_N``-gram occurs at least
#: ``REPETITION_MIN_COUNT`` times ("the the the the the" is the smallest such text).
REPETITION_N = 3
REPETITION_MIN_COUNT = 3


class StepStatistics(dict):
    """``dict[str, float]`` of one step's statistics, plus ``notes``.

    Attributes
    ----------
    notes : dict[str, str]
        For every statistic left out on this batch, why (``{"across_self_bleu_4": "needs >= 2
        groups, got 1"}``). Empty when every statistic was computed.
    """

    def __init__(self, values: dict[str, float], notes: dict[str, str]) -> None:
        super().__init__(values)
        self.notes = notes


def step_statistics(completions: Sequence[str], *, group_ids: Sequence[Hashable] | None = None,
                    proxy: Sequence[float] | None = None, gold: Sequence[float] | None = None,
                    tokenizer: Callable[[str], list[str]] | None = None, embed: bool = False,
                    embed_model: Any = None) -> StepStatistics:
    """Diversity, repetition, length and reward statistics of one batch of completions.

    Parameters
    ----------
    completions : sequence of str, length n >= 1
        The generated texts of one step (without their prompts).
    group_ids : sequence of hashable, length n, or None, default=None
        Which prompt each completion answers (e.g. the prompt text); completions with equal ids
        form one group. ``None`` puts the whole batch in one group (so the within-group
        statistics describe the batch and the across-group ones are left out).
    proxy, gold : sequence of float, length n, or None, default=None
        The reward the policy is trained on, and the true reward where one is known. Finite.
    tokenizer : callable(str) -> list[str] or None, default=None
        Splits a text into tokens for the lexical statistics and the length;
        ``None`` for :class:`~rewardshift.metrics.tokenize.WordTokenizer`.
    embed : bool, default=False
        Also compute embedding diversity (loads a sentence encoder; see
        :func:`~rewardshift.metrics.embed.embed_texts`).
    embed_model : str, path, encoder or None, default=None
        Passed to :func:`~rewardshift.metrics.embed.embed_texts` as ``model`` when ``embed``.

    Returns
    -------
    StepStatistics
        A ``dict[str, float]`` with the keys of the module table that are defined on this
        batch; ``.notes`` explains each one left out.

    Raises
    ------
    InputError
        Empty batch, a completion that is not a str, a length mismatch, a non-finite reward.

    Examples
    --------
    >>> s = step_statistics(["a b c", "a b d", "x y z", "the the the the the"],
    ...                     group_ids=[0, 0, 1, 1], proxy=[1, 2, 3, 4])
    >>> s["within_distinct_2"], s["repetition_rate"], s["proxy_mean"]
    (0.625, 0.25, 2.5)
    >>> s.notes["gold_mean"]
    'no gold reward given'
    """
    texts = _check_completions(completions)
    n = len(texts)
    groups = _check_groups(group_ids, n)
    proxy_arr = _check_rewards(proxy, n, "proxy")
    gold_arr = _check_rewards(gold, n, "gold")
    tokenized = tokenize_all(texts, tokenizer or WordTokenizer())
    return _step_statistics(texts, tokenized, groups, proxy_arr, gold_arr,
                            embed=embed, embed_model=embed_model)


# --------------------------------------------------------------------------- input checks

def _check_completions(completions: Sequence[str]) -> list[str]:
    if isinstance(completions, (str, bytes)):
        raise InputError("step_statistics: completions must be a sequence of texts, got one "
                         f"string; pass [{completions[:40]!r}]")
    texts = list(completions)
    if not texts:
        raise InputError("step_statistics: completions is empty; pass the texts of one step")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"step_statistics: completions[{i}] must be a str, got "
                             f"{type(t).__name__}")
    return texts


def _check_groups(group_ids: Sequence[Hashable] | None, n: int) -> list[list[int]]:
    """Indices of each group's completions, groups in order of first appearance."""
    if group_ids is None:
        return [list(range(n))]
    ids = list(group_ids)
    if len(ids) != n:
        raise InputError(f"step_statistics: len(group_ids)={len(ids)} should equal "
                         f"len(completions)={n}")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(ids):
        members.setdefault(g, []).append(i)
    return list(members.values())


def _check_rewards(values: Sequence[float] | None, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"step_statistics: {name} must be numbers ({exc})") from exc
    if arr.shape != (n,):
        raise InputError(f"step_statistics: {name} has shape {arr.shape}, should be ({n},), "
                         "one reward per completion")
    if not np.isfinite(arr).all():
        raise InputError(f"step_statistics: {name}[{int(np.argmin(np.isfinite(arr)))}] is not "
                         "finite; drop that completion or give it a finite reward")
    return arr


# --------------------------------------------------------------------------- computation

def _step_statistics(texts: list[str], tokenized: list[list[str]], groups: list[list[int]],
                     proxy: np.ndarray | None, gold: np.ndarray | None, *, embed: bool,
                     embed_model: Any) -> StepStatistics:
    """All statistics on validated input (see :func:`step_statistics`)."""
    out: dict[str, float] = {"n_completions": float(len(texts)), "n_groups": float(len(groups))}
    notes: dict[str, str] = {}
    emb = embed_texts(texts, model=embed_model) if embed else None
    multi = [g for g in groups if len(g) >= 2]
    firsts = [g[0] for g in groups]
    metrics: list[tuple[str, Callable[[list[int]], float]]] = [
        ("distinct_2", lambda idx: distinct_n([tokenized[i] for i in idx], n=2)),
        ("self_bleu_4", lambda idx: self_bleu([tokenized[i] for i in idx], max_n=4)),
    ]
    if emb is not None:
        metrics.append(("embedding_diversity", lambda idx: embedding_diversity(emb[idx])))
    for name, fn in metrics:
        key = f"within_{name}"
        if not multi:
            notes[key] = "needs a group with >= 2 completions, every group has 1"
        else:
            values = [v for v in (_try(fn, idx) for idx in multi) if v is not None]
            if values:
                out[key] = float(np.mean(values))
            else:
                notes[key] = f"undefined on each of the {len(multi)} group(s) (no 2-grams?)"
        key = f"across_{name}"
        if len(firsts) < 2:
            notes[key] = f"needs >= 2 groups, got {len(firsts)}"
        elif (v := _try(fn, firsts)) is not None:
            out[key] = v
        else:
            notes[key] = "undefined on the first completions of the groups (no 2-grams?)"
    out["repetition_rate"] = float(np.mean([_is_repetitive(t) for t in tokenized]))
    out["empty_rate"] = float(np.mean([len(t) == 0 for t in tokenized]))
    out["mean_length"] = float(np.mean([len(t) for t in tokenized]))
    for name, arr in (("proxy", proxy), ("gold", gold)):
        if arr is None:
            notes[f"{name}_mean"] = notes[f"{name}_std"] = f"no {name} reward given"
        else:
            out[f"{name}_mean"], out[f"{name}_std"] = float(arr.mean()), float(arr.std())
    _spearman(proxy, gold, out, notes)
    return StepStatistics(out, notes)


def _try(fn: Callable[[list[int]], float], idx: list[int]) -> float | None:
    """``fn(idx)``, or None where the metric is undefined on those completions."""
    try:
        return float(fn(idx))
    except (MetricUndefinedError, InputError):  # InputError: an all-zero embedding row
        return None


def _is_repetitive(tokens: list[str]) -> bool:
    grams = Counter(tuple(tokens[i:i + REPETITION_N])
                    for i in range(len(tokens) - REPETITION_N + 1))
    return bool(grams) and max(grams.values()) >= REPETITION_MIN_COUNT


def _spearman(proxy: np.ndarray | None, gold: np.ndarray | None, out: dict[str, float],
              notes: dict[str, str]) -> None:
    key = "proxy_gold_spearman"
    if proxy is None or gold is None:
        notes[key] = "needs both proxy and gold rewards"
    elif len(proxy) < 3:
        notes[key] = f"needs >= 3 completions, got {len(proxy)}"
    elif np.ptp(proxy) == 0 or np.ptp(gold) == 0:
        notes[key] = "undefined: the proxy or the gold is constant over the batch"
    else:
        rho = float(_sps.spearmanr(proxy, gold).statistic)
        if math.isfinite(rho):
            out[key] = rho
        else:  # pragma: no cover - ptp > 0 makes the ranks vary
            notes[key] = "undefined on this batch"
