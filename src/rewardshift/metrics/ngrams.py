"""The n-gram engine: every n-gram of a tokenized sample set interned as an exact integer id.

One interning serves every n-gram metric: distinct-n, n-gram diversity and EAD on the whole
set (:func:`ngram_levels` in :mod:`rewardshift.metrics.lexical`), the same counts on hundreds
of resampled subsets (:class:`NgramIndex`, used by :mod:`rewardshift.measure`), and self-BLEU
(``rewardshift.metrics._bleu``, which shares :func:`encode`, the slot layout and the
exact-key rule, and fuses its own pruned pass with the clipping). Functions here assume clean
input; the public metrics of :mod:`rewardshift.metrics.lexical` validate it.

Definitions
-----------
*Tokens.* :func:`encode` interns tokens to dense ids ``0 .. V-1`` in order of first
appearance and lays the samples out in one array of *slots*: sample ``i`` starts on a block
boundary (blocks of ``2**block_bits`` slots, about the mean length) and is followed by at
least one padding slot holding -1, so the sample owning a slot is a shift and a look-up, and
no n-gram runs into the next sample.

*n-grams.* An n-gram is ``n`` consecutive tokens of one sample, named by the slot of its
first token. Its id is defined order by order: for ``n = 1`` the token id; for ``n >= 2``
the dense rank of the pair (id of its (n-1)-gram prefix at slot ``p``, token at slot
``p + n - 1``) among the pairs that occur. Ids are dense, ``0 .. G_n - 1`` with ``G_n`` the
number of distinct n-grams (``n_unique``), and increase with the pair's lexicographic order.

*Exact keys.* Two n-grams get the same id if and only if they are equal, because the key
of a pair is exact: ``prefix * V + token`` when ``G_{n-1} * V`` fits in int64 (it is then a
bijection of the pairs onto ``[0, G_{n-1} V)``), else the dense row ids of
``np.unique(axis=0)`` over the pairs. No hashing, so no collisions. :func:`fits` is the one
overflow test, used by every packing here and in self-BLEU.

*Cost.* One sort per order, of the composite ``key << bits | slot`` when that fits in int64
(the slot comes back in the low bits, so one ``np.sort`` groups the n-grams and, inside each,
their occurrences by sample), else a stable ``argsort`` of the key: O(total n-grams) memory,
O(T log T) time per order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rewardshift._exceptions import InputError

__all__ = ["Corpus", "Level", "NgramIndex", "dense_rows", "encode", "fits", "ngram_levels",
           "slot_bits"]

_INT64_MAX = int(np.iinfo(np.int64).max)


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Corpus:
    """All samples as integer token ids, laid out in slots.

    Sample ``i`` fills the slots ``start[i] .. start[i] + len_i - 1``, followed by at least one
    padding slot. Samples begin on block boundaries (blocks of ``2**block_bits`` slots, about
    the mean length, so padding at most about doubles the layout), hence the sample owning a
    slot is ``block_sample[slot >> block_bits]`` and an n-gram's slot is where its ids are
    written: no index arithmetic per n-gram.
    """

    ids: np.ndarray  # (T,) int64: token id of every token, samples back to back
    slots: np.ndarray  # (T,) int64: the slot of every token (increasing)
    id_at: np.ndarray  # (S,) int64: token id in every slot, -1 in padding
    block_bits: int
    block_sample: np.ndarray  # (S >> block_bits,) int64: sample owning each block
    start: np.ndarray  # (N,) int64: first slot of each sample
    lengths: np.ndarray  # (N,) int64: tokens per sample
    vocab_size: int  # distinct tokens seen

    def owner(self, slot: np.ndarray) -> np.ndarray:
        """The sample owning each slot of ``slot`` (same shape)."""
        owner: np.ndarray = self.block_sample[slot >> self.block_bits]
        return owner


def encode(samples: Sequence[Sequence[str]]) -> Corpus:
    """Intern the tokens of ``samples`` (each a sequence of ``str``) to dense ids.

    Ids follow first appearance. Raises :class:`InputError` when a token is not a string.
    Cost: one dict look-up per token.
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
    blocks = (lengths >> block_bits) + 1  # (N,) ceil((len + 1) / 2**b): a padding slot after each
    start = np.concatenate([[0], np.cumsum(blocks)[:-1]]).astype(np.int64) << block_bits  # (N,)
    slots = np.arange(n_tokens, dtype=np.int64) + np.repeat(
        start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    id_at = np.full(int(blocks.sum()) << block_bits, -1, dtype=np.int64)
    id_at[slots] = ids
    block_sample = np.repeat(np.arange(n_samples, dtype=np.int64), blocks)
    return Corpus(ids=ids, slots=slots, id_at=id_at, block_bits=block_bits,
                  block_sample=block_sample, start=start, lengths=lengths,
                  vocab_size=len(index))


# --------------------------------------------------------------------------- exact keys


def fits(bound: int, spare_bits: int = 0) -> bool:
    """Whether keys in ``[0, bound)`` shifted left by ``spare_bits`` stay within int64."""
    return bound <= _INT64_MAX >> spare_bits


def slot_bits(corpus: Corpus) -> int:
    """Bits that hold any slot of ``corpus`` (the low bits of a ``key << bits | slot``)."""
    return max(int(len(corpus.id_at) - 1).bit_length(), 1)


def dense_rows(columns: Sequence[np.ndarray]) -> np.ndarray:
    """(K,) int64 exact key of the rows of ``columns`` (each (K,)) when packing would overflow.

    Equal rows get equal keys and different rows different keys: the dense ids ``0 .. U-1``
    of the distinct rows (``np.unique(axis=0)``), in the rows' lexicographic order.
    """
    _, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _pack_pair(a: np.ndarray, b: np.ndarray, a_bound: int, b_bound: int
               ) -> tuple[np.ndarray, int]:
    """Exact int64 key of the pairs ``(a, b)`` with ``0 <= a < a_bound``, ``0 <= b < b_bound``.

    Returns ``(key, key_bound)``. ``a * b_bound + b`` when that cannot overflow int64, else
    :func:`dense_rows`. Both order the keys like the pairs.
    """
    if fits(a_bound * b_bound):
        key = a * b_bound
        key += b
        return key, a_bound * b_bound
    return dense_rows([a, b]), max(len(a), 1)


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class Level:
    """The n-grams of one order ``n``: where they start, their ids, who holds them how often.

    ``start``, ``n_unique`` and the sorted arrays are computed by :func:`ngram_levels`; the
    other attributes are derived from them on first use (the counting metrics need none).
    """

    n: int
    start: np.ndarray  # (K,) slot of every n-gram's first token, increasing; K n-grams
    n_unique: int  # G: distinct n-grams, with dense ids 0 .. G-1
    sorted_gid: np.ndarray = field(repr=False)  # (K,) the ids, sorted by (id, slot)
    sorted_slot: np.ndarray = field(repr=False)  # (K,) the slots in the same order
    corpus: Corpus = field(repr=False)

    @cached_property
    def ids(self) -> np.ndarray:
        """(K,) the id of the n-gram at each ``start`` (slot order)."""
        if self.n == 1:  # unigram ids are the token ids
            return self.corpus.ids
        gid_at = np.empty(len(self.corpus.id_at), dtype=np.int64)
        gid_at[self.sorted_slot] = self.sorted_gid
        ids: np.ndarray = gid_at[self.start]
        return ids

    @cached_property
    def owner(self) -> np.ndarray:
        """(K,) the sample holding the n-gram at each ``start`` (non-decreasing)."""
        return self.corpus.owner(self.start)

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = len(self.sorted_gid)
        if k == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        sample = self.corpus.owner(self.sorted_slot)
        pair_break = np.empty(k, dtype=bool)
        pair_break[0] = True
        np.not_equal(self.sorted_gid[1:], self.sorted_gid[:-1], out=pair_break[1:])
        pair_break[1:] |= sample[1:] != sample[:-1]
        first = np.flatnonzero(pair_break)  # (P,) first row of each (n-gram, sample) pair
        return self.sorted_gid[first], sample[first], np.diff(first, append=k)

    @property
    def pair_gram(self) -> np.ndarray:
        """(P,) one row per (n-gram, sample holding it), sorted by n-gram then sample: the id."""
        return self._pairs[0]

    @property
    def pair_sample(self) -> np.ndarray:
        """(P,) the sample of each pair."""
        return self._pairs[1]

    @property
    def pair_count(self) -> np.ndarray:
        """(P,) the n-gram's occurrences in that sample (>= 1)."""
        return self._pairs[2]

    @cached_property
    def holders(self) -> np.ndarray:
        """(G,) number of samples holding each n-gram."""
        return np.bincount(self.pair_gram, minlength=self.n_unique)


def ngram_levels(corpus: Corpus, max_n: int) -> Iterator[Level]:
    """Yield the :class:`Level` of every order ``n = 1 .. max_n``, in order.

    The ids of order ``n`` are those defined in the module docstring: order ``n`` is built
    from order ``n - 1`` by one exact pair key and one sort.
    """
    n_slots = len(corpus.id_at)
    gid_at = corpus.id_at  # (S,) id of the (n-1)-gram starting at each slot, -1 where none
    n_unique = corpus.vocab_size
    for n in range(1, max_n + 1):
        if n == 1:
            start, key, key_bound = corpus.slots, corpus.ids, corpus.vocab_size
        else:
            joint = (gid_at[:-1] >= 0) & (gid_at[1:] >= 0)  # (S-1,) (n-1)-grams at p, p + 1
            start = np.flatnonzero(joint)  # padding ends every sample: both in one sample
            key, key_bound = _pack_pair(gid_at[start], corpus.id_at[start + n - 1],
                                        n_unique, corpus.vocab_size)
        sorted_gid, sorted_slot = _sort(key, key_bound, start, corpus)
        n_unique = int(sorted_gid[-1]) + 1 if len(sorted_gid) else 0
        yield Level(n, start, n_unique, sorted_gid, sorted_slot, corpus)
        if 1 < n < max_n:  # (the unigram ids are the token ids: gid_at is id_at)
            gid_at = np.full(n_slots, -1, dtype=np.int64)
            gid_at[sorted_slot] = sorted_gid


def _sort(key: np.ndarray, key_bound: int, slot: np.ndarray, corpus: Corpus
          ) -> tuple[np.ndarray, np.ndarray]:
    """Sort n-grams by (key, slot): ``(sorted_gid, sorted_slot)``, each (K,).

    ``key`` (K,) has values in ``[0, key_bound)``; ``slot`` (K,) is increasing, so the
    occurrences of each key come out by sample. ``sorted_gid`` is the dense rank of the key.

    One sort: a plain ``np.sort`` of the composite ``key << bits | slot`` when it fits in int64
    (the slot comes back in the low bits: much faster than ``argsort`` and a gather), else a
    stable ``argsort`` of ``key``.
    """
    k = len(key)
    if k == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    bits = slot_bits(corpus)
    if fits(key_bound, bits):
        composite = key << bits
        composite |= slot
        composite.sort()
        sorted_slot = composite & ((1 << bits) - 1)
        composite >>= bits
        sorted_key = composite
    else:
        order = np.argsort(key, kind="stable")
        sorted_key, sorted_slot = key[order], slot[order]
    sorted_gid = np.empty(k, dtype=np.int64)
    sorted_gid[0] = 0
    np.cumsum(sorted_key[1:] != sorted_key[:-1], out=sorted_gid[1:])
    return sorted_gid, sorted_slot


# --------------------------------------------------------------------------- subsets


@dataclass
class NgramIndex:
    """Integer ids of every n-gram (n = 1..max_n) of a tokenized sample set, for subset counts.

    Measuring with confidence intervals evaluates the same counting metrics on hundreds of
    subsets of one sample set. The set is interned once (:func:`ngram_levels`); a subset's
    unique and total counts are then a gather and a ``bincount``. The values equal the pure
    functions of :mod:`rewardshift.metrics.lexical` (tested), which remain the definitions.

    Attributes
    ----------
    ids : per order n (index n−1), the id of each n-gram occurrence, shape (C_n,), grouped by
        sample.
    owner : per order n, the sample each occurrence belongs to, shape (C_n,), non-decreasing.
    n_types : per order n, the number of distinct n-grams in the whole set.
    n_samples : number of samples indexed.
    starts : per order n, shape (n_samples + 1,): sample ``i`` owns
        ``ids[n-1][starts[n-1][i]:starts[n-1][i + 1]]``.
    """

    ids: list[np.ndarray]
    owner: list[np.ndarray]
    n_types: list[int]
    n_samples: int
    starts: list[np.ndarray]

    @classmethod
    def build(cls, tokenized: Sequence[Sequence[str]], *, max_n: int = 5) -> NgramIndex:
        """Index every n-gram of ``tokenized`` (sequences of ``str``) for ``n = 1 .. max_n``."""
        corpus = encode(tokenized)
        ids: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        n_types: list[int] = []
        for level in ngram_levels(corpus, max_n):
            ids.append(level.ids)
            owners.append(level.owner)
            n_types.append(level.n_unique)
        bounds = np.arange(len(tokenized) + 1)
        starts = [np.searchsorted(o, bounds) for o in owners]
        return cls(ids=ids, owner=owners, n_types=n_types, n_samples=len(tokenized),
                   starts=starts)

    def counts(self, subset: np.ndarray, n: int) -> tuple[int, int]:
        """(unique, total) n-grams of order ``n`` among the samples in ``subset``.

        ``subset``: distinct sample indices (a repeated index is not counted twice on every
        path), e.g. a half-sample or one side of a permutation.
        """
        ids, starts = self.ids[n - 1], self.starts[n - 1]
        if len(subset) * 8 < self.n_samples:  # a few samples: gather their ranges
            chosen = np.concatenate([ids[starts[i]:starts[i + 1]] for i in subset]) \
                if len(subset) else ids[:0]
            return int(np.unique(chosen).size), int(chosen.size)
        sel = np.zeros(self.n_samples, dtype=bool)
        sel[subset] = True
        chosen = ids[sel[self.owner[n - 1]]]
        if chosen.size == 0:
            return 0, 0
        present = np.bincount(chosen, minlength=self.n_types[n - 1]) > 0
        return int(present.sum()), int(chosen.size)
