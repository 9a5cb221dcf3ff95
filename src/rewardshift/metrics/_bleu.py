"""Exact n-gram counting over a set of samples, and self-BLEU built on it.

Private engine of :mod:`rewardshift.metrics.lexical`; every function here assumes clean input
(the public functions there validate it).

How it stays exact and O(total n-grams) (up to one sort per order):

1. Tokens are interned to dense integer ids and laid out in one array of slots, each sample
   starting on a block boundary (so a slot tells its sample with a shift and a small look-up).
2. The n-gram starting at slot ``p`` is the pair ((n-1)-gram id at ``p``, token at
   ``p + n - 1``), packed exactly into one int64 and re-interned to a dense id, order by order.
   No hashing, so no collisions; where a packed key could overflow int64 the pairs are
   interned with ``np.unique(axis=0)`` instead.
3. One sort per order (of ``key << bits | slot``) groups the n-grams and, inside each, the
   samples holding it: a count per (n-gram, sample) pair.
4. Self-BLEU needs, for hypothesis ``i`` and n-gram ``g``, the largest count of ``g`` in any
   *other* sample. With ``top1`` (largest count) and ``top2`` (second largest, ties counted)
   per n-gram that is ``top2`` when ``count(g, i) == top1`` else ``top1`` -- if ``i`` holds
   the top count and another sample holds it too, ``top2 == top1`` anyway. O(1) per pair, and
   only needed for the few n-grams that some sample holds twice or more.
5. For self-BLEU only n-grams whose two (n-1)-grams are each held by two samples or more are
   carried to the next order; the others cannot match any other sample.
6. The closest reference length leaves the hypothesis's own length out of a sorted array of
   lengths (``np.searchsorted``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rewardshift._exceptions import InputError

__all__ = ["Corpus", "Level", "encode", "ngram_levels", "self_bleu_per_sample"]

_INT64_MAX = int(np.iinfo(np.int64).max)
_EPSILON = 0.1  # nltk SmoothingFunction(epsilon=0.1).method1: 0.1 matches for a zero numerator


@dataclass(frozen=True)
class Corpus:
    """All samples as integer token ids, laid out in slots.

    Sample ``i`` fills the slots ``start[i] .. start[i] + len_i - 1``. Samples begin on block
    boundaries (blocks of ``2**block_bits`` slots, about the mean length, so padding at most
    doubles the layout), hence the sample owning a slot is ``block_sample[slot >> block_bits]``
    and an n-gram's slot is where its ids are written: no index arithmetic per n-gram.
    """

    ids: np.ndarray  # (T,) int64: token id of every token, samples back to back
    slots: np.ndarray  # (T,) int64: the slot of every token (increasing)
    id_at: np.ndarray  # (S,) int64: token id in every slot, -1 in padding
    block_bits: int
    block_sample: np.ndarray  # (S >> block_bits,) int64: sample owning each block
    start: np.ndarray  # (N,) int64: first slot of each sample
    lengths: np.ndarray  # (N,) int64: tokens per sample
    vocab_size: int  # distinct tokens seen


@dataclass(frozen=True)
class Level:
    """The n-grams of one order ``n``: where they start and which samples hold them how often."""

    n: int
    start: np.ndarray  # (K,) slot of every n-gram's first token; K n-grams
    n_unique: int  # G: distinct n-grams, with dense ids 0 .. G-1
    pair_gram: np.ndarray  # (P,) one row per (n-gram, sample holding it): the n-gram's id,
    pair_sample: np.ndarray  # (P,) the sample (rows sorted by n-gram, then sample),
    pair_count: np.ndarray  # (P,) and the n-gram's occurrences in that sample (>= 1)
    holders: np.ndarray  # (G,) number of samples holding each n-gram


def encode(samples: Sequence[Sequence[str]]) -> Corpus:
    """Intern the tokens of ``samples`` (each a sequence of ``str``) to dense ids.

    Raises :class:`InputError` when a token is not a string. Cost: one dict look-up per token.
    """
    n_samples = len(samples)
    lengths = np.fromiter(map(len, samples), dtype=np.int64, count=n_samples)
    n_tokens = int(lengths.sum())
    try:
        index = dict.fromkeys(itertools.chain.from_iterable(samples))
    except TypeError as exc:
        raise InputError(f"tokens must be strings; found an unhashable token ({exc})") from exc
    for i, token in enumerate(index):
        if not isinstance(token, str):
            raise InputError(
                f"tokens must be strings, found {token!r} of type {type(token).__name__}; "
                "convert them with str(), or tokenize raw texts with "
                "rewardshift.metrics.tokenize.tokenize_all"
            )
        index[token] = i
    ids = np.fromiter(map(index.__getitem__, itertools.chain.from_iterable(samples)),
                      dtype=np.int64, count=n_tokens)
    block_bits = max(int(n_tokens // max(n_samples, 1)).bit_length() - 1, 0)  # 2**b <= mean
    blocks = -(-lengths >> block_bits)  # (N,) ceil(len / 2**b)
    start = np.concatenate([[0], np.cumsum(blocks)[:-1]]) << block_bits  # (N,)
    slots = np.arange(n_tokens, dtype=np.int64) + np.repeat(
        start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    id_at = np.full(int(blocks.sum()) << block_bits, -1, dtype=np.int64)
    id_at[slots] = ids
    block_sample = np.repeat(np.arange(n_samples, dtype=np.int64), blocks)
    return Corpus(ids=ids, slots=slots, id_at=id_at, block_bits=block_bits,
                  block_sample=block_sample, start=start, lengths=lengths,
                  vocab_size=len(index))


def ngram_levels(corpus: Corpus, max_n: int, *, shared_only: bool = False) -> Iterator[Level]:
    """Yield the :class:`Level` of every order ``n = 1 .. max_n``, in order.

    With ``shared_only`` an n-gram is only kept when both of its (n-1)-grams (at ``p`` and
    ``p + 1``) are held by at least two samples -- a necessary condition for the n-gram itself
    to be. The levels then omit n-grams that only one sample holds (``n_unique`` counts the kept
    ones only): enough for self-BLEU, whose matches need another sample, and far smaller.
    """
    n_slots = len(corpus.id_at)
    alive = corpus.id_at >= 0  # (S,) the kept (n-1)-gram at slot p exists
    gid_at = corpus.id_at  # (S,) its dense id
    n_unique = corpus.vocab_size
    for n in range(1, max_n + 1):
        if n == 1:
            start, key, key_bound = corpus.slots, corpus.ids, corpus.vocab_size
        else:
            joint = alive[:-1] & alive[1:]  # (S-1,) kept (n-1)-grams at p and p + 1 ...
            last = (corpus.start + corpus.lengths - (n - 1))[corpus.lengths >= n - 1]
            joint[last[last < n_slots - 1]] = False  # ... unless p + 1 is in the next sample
            start = np.flatnonzero(joint)
            key, key_bound = _pack_pair(gid_at[start], corpus.id_at[start + n - 1],
                                        n_unique, corpus.vocab_size)
        sorted_gid, sorted_slot, pairs = _sort_and_count(key, key_bound, start, corpus)
        n_unique = int(sorted_gid[-1]) + 1 if len(sorted_gid) else 0
        holders = np.bincount(pairs[0], minlength=n_unique)
        yield Level(n, start, n_unique, *pairs, holders)
        if n == max_n:
            return
        if n == 1:  # the unigram ids are the token ids: no scatter needed
            if shared_only:
                alive = np.zeros(n_slots, dtype=bool)
                alive[corpus.slots] = holders[corpus.ids] >= 2
            continue
        if shared_only:
            sorted_gid[holders[sorted_gid] < 2] = -1
        gid_at = np.full(n_slots, -1, dtype=np.int64)
        gid_at[sorted_slot] = sorted_gid
        alive = gid_at >= 0


def _pack_pair(a: np.ndarray, b: np.ndarray, a_bound: int, b_bound: int
               ) -> tuple[np.ndarray, int]:
    """Exact int64 key of the pairs ``(a, b)`` with ``0 <= a < a_bound``, ``0 <= b < b_bound``.

    Returns ``(key, key_bound)``. ``a * b_bound + b`` when that cannot overflow int64, else the
    dense ids of ``np.unique`` over the rows ``(a, b)``.
    """
    if a_bound * b_bound <= _INT64_MAX:
        key = a * b_bound
        key += b
        return key, a_bound * b_bound
    rows = np.column_stack([a, b])
    _, inverse = np.unique(rows, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), max(len(rows), 1)


def _sort_and_count(key: np.ndarray, key_bound: int, slot: np.ndarray, corpus: Corpus
                    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Sort n-grams by (key, slot); count every (n-gram, sample) pair.

    ``key`` (K,) has values in ``[0, key_bound)``; ``slot`` (K,) is increasing, so samples
    come out sorted inside each key. Returns ``sorted_gid`` (K,), the dense n-gram ids in
    sorted order; ``sorted_slot`` (K,); and the pairs ``(gram, sample, count)``, each (P,).

    One sort: a plain ``np.sort`` of the composite ``key << bits | slot`` when it fits in int64
    (the slot comes back in the low bits: much faster than ``argsort`` and a gather), else a
    stable ``argsort`` of ``key``.
    """
    k = len(key)
    if k == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, (empty, empty, empty)
    bits = max(int(len(corpus.id_at) - 1).bit_length(), 1)
    if key_bound <= _INT64_MAX >> bits:
        composite = key << bits
        composite |= slot
        composite.sort()
        sorted_slot = composite & ((1 << bits) - 1)
        composite >>= bits
        sorted_key = composite
    else:
        order = np.argsort(key, kind="stable")
        sorted_key, sorted_slot = key[order], slot[order]
    sample = corpus.block_sample[sorted_slot >> corpus.block_bits]
    gram_break = sorted_key[1:] != sorted_key[:-1]
    sorted_gid = np.empty(k, dtype=np.int64)
    sorted_gid[0] = 0
    np.cumsum(gram_break, out=sorted_gid[1:])
    gram_break |= sample[1:] != sample[:-1]  # now: pair breaks
    first = np.flatnonzero(np.concatenate([[True], gram_break]))  # (P,) first row of each pair
    pairs = (sorted_gid[first], sample[first], np.diff(first, append=k))
    return sorted_gid, sorted_slot, pairs


def _clipped_matches(level: Level, n_samples: int) -> np.ndarray:
    """(N,) BLEU numerator per sample: its n-gram counts clipped by the max count in the others.

    An n-gram held by one sample only matches nothing. For one held by several, a pair (g, s)
    with count ``c`` below the top count ``top1`` of ``g`` keeps ``c`` (another sample holds
    ``top1 > c``), and one at the top keeps the second largest count ``top2`` (equal to
    ``top1`` when several samples hold the top). So the numerator is the sum of ``c`` over
    shared n-grams, less ``top1 - top2`` for each shared n-gram whose top only one sample
    holds -- which needs ``top1 >= 2``, a small minority of n-grams: only those are examined.
    """
    g, s, c = level.pair_gram, level.pair_sample, level.pair_count
    shared_gram = level.holders >= 2  # (G,)
    shared = shared_gram[g]  # (P,)
    matches = np.bincount(s[shared], weights=c[shared], minlength=n_samples)
    heavy = np.zeros(level.n_unique, dtype=bool)  # n-grams some sample holds twice or more
    heavy[g[c >= 2]] = True
    rows = np.flatnonzero((heavy & shared_gram)[g])
    if len(rows):
        matches -= _lone_top_deficit(g[rows], s[rows], c[rows], n_samples)
    return matches


def _lone_top_deficit(g: np.ndarray, s: np.ndarray, c: np.ndarray, n_samples: int
                      ) -> np.ndarray:
    """(N,) sum of ``top1 - top2`` over the n-grams whose top count one sample holds alone.

    ``g``, ``s``, ``c`` (R,): the pair rows (n-gram, sample, count) of some n-grams, sorted by
    n-gram, with every row of each of them.
    """
    starts = np.concatenate([[True], g[1:] != g[:-1]])
    group = np.cumsum(starts) - 1  # (R,) group index of each row
    first = np.flatnonzero(starts)
    top1 = np.maximum.reduceat(c, first)
    is_top = c == top1[group]
    n_top = np.add.reduceat(is_top, first, dtype=np.int64)
    top2 = np.maximum.reduceat(np.where(is_top, 0, c), first)  # largest count below the top
    lone = np.flatnonzero(is_top & (n_top[group] == 1))
    return np.bincount(s[lone], weights=(top1 - top2)[group[lone]], minlength=n_samples)


def _closest_other_length(lengths: np.ndarray) -> np.ndarray:
    """(N,) nltk ``closest_ref_length`` of each sample against all the others.

    Closest by absolute difference, ties to the shorter. Needs N >= 2.
    """
    ordered = np.sort(lengths)
    n = len(ordered)
    lo = np.searchsorted(ordered, lengths, side="left")
    hi = np.searchsorted(ordered, lengths, side="right")
    shared = hi - lo >= 2  # another sample has the same length
    below = ordered[np.maximum(lo - 1, 0)]
    above = ordered[np.minimum(hi, n - 1)]
    gap_below = np.where(lo > 0, lengths - below, np.iinfo(np.int64).max)
    gap_above = np.where(hi < n, above - lengths, np.iinfo(np.int64).max)
    nearest = np.where(gap_below <= gap_above, below, above)
    return np.where(shared, lengths, nearest)


def self_bleu_per_sample(corpus: Corpus, max_n: int) -> np.ndarray:
    """(N,) nltk ``sentence_bleu`` of each sample against all the others (smoothing method1).

    Per sample ``i`` with length ``h`` and closest other length ``r``::

        p_n  = m_n / max(1, h - n + 1)       if m_n > 0   (m_n: clipped n-gram matches)
             = 0.1 / max(1, h - n + 1)       if m_n = 0   (method1)
        BP   = 1 if h > r;  0 if h = 0;  exp(1 - r / h) otherwise
        BLEU = 0 if m_1 = 0  else  BP * exp(sum_n (1/max_n) * log p_n)

    Needs N >= 2.
    """
    lengths = corpus.lengths
    n_samples = len(lengths)
    weight = 1.0 / max_n
    log_sum = np.zeros(n_samples)
    unigram_matches = np.zeros(n_samples)
    for level in ngram_levels(corpus, max_n, shared_only=True):
        matches = _clipped_matches(level, n_samples)
        if level.n == 1:
            unigram_matches = matches
        denominator = np.maximum(1, lengths - level.n + 1)
        precision = np.where(matches > 0, matches, _EPSILON) / denominator
        log_sum += weight * np.log(precision)
    ref = _closest_other_length(lengths)
    with np.errstate(divide="ignore", invalid="ignore"):
        penalty = np.where(lengths > ref, 1.0,
                           np.where(lengths == 0, 0.0, np.exp(1.0 - ref / lengths)))
    return np.where(unigram_matches == 0, 0.0, penalty * np.exp(log_sum))
