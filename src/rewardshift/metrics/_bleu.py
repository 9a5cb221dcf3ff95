"""Exact n-gram counting over a set of samples, and self-BLEU built on it.

Private engine of :mod:`rewardshift.metrics.lexical`; every function here assumes clean input
(the public functions there validate it).

How it stays exact and O(total n-grams) (up to one sort per order):

1. Tokens are interned to dense integer ids and laid out in one array of slots, each sample
   starting on a block boundary and followed by at least one padding slot (so a slot tells
   its sample with a shift and a small look-up, and no n-gram runs into the next sample).
2. The n-gram starting at slot ``p`` is the pair ((n-1)-gram id at ``p``, token at
   ``p + n - 1``), packed exactly into one int64 and re-interned to a dense id, order by order.
   No hashing, so no collisions; where a packed key could overflow int64 the pairs are
   interned with ``np.unique(axis=0)`` instead.
3. One sort per order (of ``key << bits | slot``) groups the n-grams and, inside each, the
   samples holding it: a count per (n-gram, sample) pair.
4. Self-BLEU needs, for hypothesis ``i`` and n-gram ``g``, the largest count of ``g`` in any
   *other* sample. With ``top1`` (largest count) and ``top2`` (second largest, ties counted)
   per n-gram that is ``top2`` when ``count(g, i) == top1`` else ``top1`` -- if ``i`` holds
   the top count and another sample holds it too, ``top2 == top1`` anyway. So the clipped
   matches of ``i`` are its n-grams, less those of n-grams no other sample holds, less
   ``top1 - top2`` for each n-gram whose top count ``i`` holds alone -- which needs a count of
   2 or more, so only the few repeated (n-gram, sample) pairs are examined.
5. Self-BLEU has its own, leaner pass (:func:`self_bleu_per_sample`): unigrams in one int32
   sort of ``token << bits | sample``; order ``n >= 2`` only over the n-grams whose two
   (n-1)-grams are each held by two samples or more (the others cannot match another
   sample), keyed by their ``n`` shared-token ranks while those pack into an int64 beside the
   slot (then only a boolean "shared" mask is carried between orders), else by the dense ids
   of their two (n-1)-grams. The sorted n-grams are processed in cache-sized chunks cut at
   n-gram boundaries; an n-gram is shared when its first and last occurrences (slots sorted)
   lie in different samples.
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

    Sample ``i`` fills the slots ``start[i] .. start[i] + len_i - 1``, followed by at least one
    padding slot. Samples begin on block boundaries (blocks of ``2**block_bits`` slots, about
    the mean length, so padding at most about doubles the layout), hence the sample owning a slot is ``block_sample[slot >> block_bits]``
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
    blocks = (lengths >> block_bits) + 1  # (N,) ceil((len + 1) / 2**b): a padding slot after each
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


_INT32_MAX = int(np.iinfo(np.int32).max)
_CHUNK = 1 << 16  # elements per cache-sized chunk (the work arrays of one stay in L2)


def _heavy_deficit(g: np.ndarray, s: np.ndarray, c: np.ndarray, n_samples: int) -> np.ndarray:
    """(N,) sum of ``top1 - top2`` over the n-grams whose top count one sample holds alone.

    ``g``, ``s``, ``c`` (R,): the (n-gram, sample, count) pairs with ``count >= 2`` of n-grams
    held by two samples or more, sorted by n-gram. Pairs of count 1 are left out: they can't
    be a lone top (a top of 1 is never alone among two holders) and they only matter as a
    second largest count of 1, which every such n-gram has at least (``top2 >= 1``).
    """
    if len(g) == 0:
        return np.zeros(n_samples)
    starts = np.empty(len(g), dtype=bool)
    starts[0] = True
    np.not_equal(g[1:], g[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1  # (R,) group index of each row
    top1 = np.maximum.reduceat(c, first)
    is_top = c == top1[group]
    n_top = np.add.reduceat(is_top, first, dtype=np.int64)
    top2 = np.maximum.reduceat(np.where(is_top, 0, c), first)  # largest heavy count below top
    np.maximum(top2, 1, out=top2)
    lone = np.flatnonzero(is_top & (n_top == 1)[group])
    return np.bincount(s[lone], weights=(top1 - top2)[group[lone]], minlength=n_samples)


def _unigram_matches(corpus: Corpus) -> tuple[np.ndarray, np.ndarray, int]:
    """Order 1: ``(matches, rank, G)``.

    ``matches`` (N,) the clipped unigram matches; ``rank`` (V + 1,) int32, the dense id
    ``0 .. G-1`` of every token held by two samples or more, -1 for the others and in the last
    entry (so ``rank[id_at]`` is -1 in padding). One sort of the packed ``token << bits |
    sample`` (int32 where it fits): unigram ids are the token ids, so no slot is needed.
    """
    v, lengths = corpus.vocab_size, corpus.lengths
    n_samples, k = len(lengths), len(corpus.ids)
    if k == 0:
        return np.zeros(n_samples), np.full(v + 1, -1, dtype=np.int32), 0
    sbits = max(int(n_samples - 1).bit_length(), 1)
    dtype = np.int32 if v << sbits <= _INT32_MAX else np.int64
    key = corpus.ids.astype(dtype)
    key <<= sbits
    key |= np.repeat(np.arange(n_samples, dtype=dtype), lengths)
    key.sort()  # by token, then sample
    smask = (1 << sbits) - 1
    bounds = np.searchsorted(key, np.arange(v + 1, dtype=dtype) << sbits)  # every token occurs
    first_sample = key[bounds[:-1]] & smask
    shared = first_sample != key[bounds[1:] - 1] & smask  # (V,) held by two samples or more
    lone = np.flatnonzero(~shared)
    matches = lengths - np.bincount(first_sample[lone], weights=np.diff(bounds)[lone],
                                    minlength=n_samples)
    dup = np.flatnonzero(key[1:] == key[:-1])  # occurrences repeating a (token, sample) pair
    if len(dup):
        matches = matches - _heavy_deficit(*_heavy_pairs(key[dup], sbits, shared), n_samples)
    rank = np.full(v + 1, -1, dtype=np.int32)
    n_shared = int(np.count_nonzero(shared))
    rank[:v][shared] = np.arange(n_shared, dtype=np.int32)
    return matches.astype(np.float64), rank, n_shared


def _heavy_pairs(dup_key: np.ndarray, sbits: int, shared: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (token, sample, count >= 2) pairs of shared tokens from the sorted repeated keys."""
    brk = np.empty(len(dup_key), dtype=bool)
    brk[0] = True
    np.not_equal(dup_key[1:], dup_key[:-1], out=brk[1:])
    first = np.flatnonzero(brk)
    pair_key = dup_key[first]
    count = np.diff(first, append=len(dup_key)) + 1
    gram = pair_key >> sbits
    keep = np.flatnonzero(shared[gram])
    return gram[keep], pair_key[keep] & ((1 << sbits) - 1), count[keep]


def _next_order_matches(corpus: Corpus, alive: np.ndarray, ids: np.ndarray, base: int, span: int,
                        block_sample: np.ndarray, want: str | None
                        ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """Order ``n >= 2``: ``(matches, next_alive, next_ids, G)``.

    ``alive`` (S,) bool: the (n-1)-gram starting at each slot is held by two samples or more
    (False in padding). The n-gram at ``p`` is a candidate when those at ``p`` and ``p + 1`` are
    alive (the padding slot after each sample keeps it inside its sample), and its exact key
    is ``ids[p], ids[p + 1], .., ids[p + span - 1]`` packed in base ``base`` -- either the
    ``n`` shared-token ranks (``span = n``, ``base = G1``) or the ids of the two (n-1)-grams
    (``span = 2``). One sort of ``key << bits | slot``, the candidates written and the sorted
    array processed in chunks small enough to stay in cache. Returns the clipped matches (N,);
    with ``want`` = "alive" or "ids" the next order's ``alive``; with "ids" also the dense ids
    (S,) int32 of the shared n-grams (-1 elsewhere) and their count ``G``.
    """
    n_samples, n_slots = len(corpus.lengths), len(alive)
    bits = max(int(n_slots - 1).bit_length(), 1)
    ok = np.zeros(n_slots, dtype=bool)
    np.logical_and(alive[:-1], alive[1:], out=ok[:-1])
    slots = np.flatnonzero(ok)
    k = len(slots)
    if k == 0:
        nothing = np.zeros(n_slots, dtype=bool)
        return np.zeros(n_samples), nothing, np.full(n_slots, -1, dtype=np.int32), 0
    candidates = np.add.reduceat(ok, corpus.start, dtype=np.int64)  # (N,) per sample
    del ok
    if base ** span > _INT64_MAX >> bits:  # the composite could overflow: re-intern the keys
        rows = np.column_stack([ids[slots + j] for j in range(span)])
        _, key = np.unique(rows, axis=0, return_inverse=True)  # dense: key < K, fits
        composite = key.reshape(-1).astype(np.int64) << bits
        composite |= slots
    else:
        composite = np.empty(k, dtype=np.int64)
        for lo in range(0, k, _CHUNK):  # key << bits | slot, chunk by chunk
            slot = slots[lo:lo + _CHUNK]
            out = composite[lo:lo + _CHUNK]
            np.multiply(ids[slot], base, out=out, dtype=np.int64)
            out += ids[1:][slot]
            for j in range(2, span):
                out *= base
                out += ids[j:][slot]
            out <<= bits
            out |= slot
    del slots
    composite.sort()
    return _count_sorted(composite, bits, corpus, block_sample, candidates, want)


def _count_sorted(composite: np.ndarray, bits: int, corpus: Corpus, block_sample: np.ndarray,
                  candidates: np.ndarray, want: str | None
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """Matches (and next ids) from the sorted ``key << bits | slot`` of the candidates.

    An n-gram (a run of equal keys, its slots increasing) is shared when its first and last
    occurrences lie in different samples. The matches of sample ``i`` are its candidates less
    its occurrences of unshared n-grams (each in one sample: counted per run, not per
    occurrence), less the lone-top deficits of the n-grams some sample holds twice or more.
    """
    n_samples, n_slots = len(corpus.lengths), len(corpus.id_at)
    k = len(composite)
    targets = np.arange(_CHUNK, k, _CHUNK)  # chunk ends, moved to the next n-gram boundary
    cuts = np.searchsorted(composite, ((composite[targets - 1] >> bits) + 1) << bits)
    cuts = np.unique(np.concatenate([[0], cuts, [k]])).tolist()
    unshared = np.zeros(n_samples, dtype=np.int64)
    deficit = np.zeros(n_samples)
    next_alive = np.zeros(n_slots, dtype=bool) if want == "alive" else None
    next_ids = np.full(n_slots, -1, dtype=np.int32) if want == "ids" else None
    n_shared = 0
    slot_mask = (1 << bits) - 1
    for lo, hi in itertools.pairwise(cuts):
        c = composite[lo:hi]
        m = hi - lo
        slot = c & slot_mask
        sample = block_sample[slot >> corpus.block_bits]
        brk = np.empty(m, dtype=bool)  # a new n-gram starts here
        brk[0] = True
        diff = c[1:] ^ c[:-1]
        np.greater(diff, slot_mask, out=brk[1:])
        del diff
        run_start = np.flatnonzero(brk)
        run = np.diff(run_start, append=m)
        first_sample = sample[run_start]
        shared = first_sample != sample[run_start + run - 1]
        lone = np.flatnonzero(~shared)
        unshared += np.bincount(first_sample[lone], weights=run[lone],
                                minlength=n_samples).astype(np.int64)
        dup = sample[1:] == sample[:-1]
        dup &= ~brk[1:]
        dup_at = np.flatnonzero(dup)  # occurrences repeating their (n-gram, sample) pair
        if len(dup_at):
            dup_at += 1
            gram = np.searchsorted(run_start, dup_at, side="right") - 1
            keep = np.flatnonzero(shared[gram])
            if len(keep):  # pairs of shared n-grams only
                dup_at, gram = dup_at[keep], gram[keep]
                dup_sample = sample[dup_at]
                pair_brk = np.empty(len(dup_at), dtype=bool)
                pair_brk[0] = True
                np.not_equal(gram[1:], gram[:-1], out=pair_brk[1:])
                pair_brk[1:] |= dup_sample[1:] != dup_sample[:-1]
                first = np.flatnonzero(pair_brk)
                deficit += _heavy_deficit(gram[first], dup_sample[first],
                                          np.diff(first, append=len(dup_at)) + 1, n_samples)
        if want == "alive":
            next_alive[slot] = np.repeat(shared, run)
        count = int(np.count_nonzero(shared))
        if want == "ids":
            ids = np.arange(n_shared, n_shared + count, dtype=np.int32)
            next_ids[slot[np.repeat(shared, run)]] = np.repeat(ids, run[shared])
        n_shared += count
    if want == "ids":
        next_alive = next_ids >= 0
    return (candidates - unshared) - deficit, next_alive, next_ids, n_shared


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
    unigram_matches, rank, n_tokens = _unigram_matches(corpus)
    matches = unigram_matches
    block_sample = corpus.block_sample.astype(np.int32)
    bits = max(int(len(corpus.id_at) - 1).bit_length(), 1)

    def packs(n: int) -> bool:  # the n shared-token ranks pack into a key beside the slot
        return n_tokens ** n <= _INT64_MAX >> bits

    alive = gram_ids = token_ids = None
    n_grams = n_tokens
    for n in range(1, max_n + 1):
        if n > 1:
            if n_grams == 0:  # no shared (n-1)-gram: no n-gram matches
                matches = np.zeros(n_samples)
            else:
                if n == 2:
                    token_ids = rank[corpus.id_at]  # shared-token rank in every slot, or -1
                    alive = token_ids >= 0
                want = None if n == max_n else "alive" if packs(n + 1) else "ids"
                if n == 2 or packs(n):
                    key_ids, base, span = token_ids, n_tokens, n
                else:
                    key_ids, base, span = gram_ids, n_grams, 2
                matches, alive, gram_ids, n_grams = _next_order_matches(
                    corpus, alive, key_ids, base, span, block_sample, want)
        denominator = np.maximum(1, lengths - n + 1)
        precision = np.where(matches > 0, matches, _EPSILON) / denominator
        log_sum += weight * np.log(precision)
    ref = _closest_other_length(lengths)
    with np.errstate(divide="ignore", invalid="ignore"):
        penalty = np.where(lengths > ref, 1.0,
                           np.where(lengths == 0, 0.0, np.exp(1.0 - ref / lengths)))
    return np.where(unigram_matches == 0, 0.0, penalty * np.exp(log_sum))
