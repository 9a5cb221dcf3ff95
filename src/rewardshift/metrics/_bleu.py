"""Self-BLEU: exact clipped n-gram matches of every sample against all the others.

Private engine of :mod:`rewardshift.metrics.lexical`; every function here assumes clean input
(the public functions there validate it). Tokens are interned and laid out in slots by the
n-gram engine, :func:`rewardshift.metrics.ngrams.encode`, whose exact-key rule
(:func:`~rewardshift.metrics.ngrams.fits`, :func:`~rewardshift.metrics.ngrams.dense_rows`)
every key here follows. Self-BLEU only needs the n-grams that two samples or more hold, so
instead of the full :func:`~rewardshift.metrics.ngrams.ngram_levels` it runs its own leaner
pass, pruned order by order and fused with the clipping (30-35% faster):

1. Self-BLEU needs, for hypothesis ``i`` and n-gram ``g``, the largest count of ``g`` in any
   *other* sample. With ``top1`` (largest count) and ``top2`` (second largest, ties counted)
   per n-gram that is ``top2`` when ``count(g, i) == top1`` else ``top1`` -- if ``i`` holds
   the top count and another sample holds it too, ``top2 == top1`` anyway. So the clipped
   matches of ``i`` are its n-grams, less those of n-grams no other sample holds, less
   ``top1 - top2`` for each n-gram whose top count ``i`` holds alone -- which needs a count of
   2 or more, so only the few repeated (n-gram, sample) pairs are examined.
2. Unigrams in one int32 sort of ``token << bits | sample``; order ``n >= 2`` only over the
   n-grams whose two (n-1)-grams are each held by two samples or more (the others cannot
   match another sample), keyed by their ``n`` shared-token ranks while those pack into an
   int64 beside the slot (then only a boolean "shared" mask is carried between orders), else
   by the dense ids of their two (n-1)-grams. The sorted n-grams are processed in cache-sized
   chunks cut at n-gram boundaries; an n-gram is shared when its first and last occurrences
   (slots sorted) lie in different samples.
3. The closest reference length leaves the hypothesis's own length out of a sorted array of
   lengths (``np.searchsorted``).
"""

from __future__ import annotations

import itertools

import numpy as np

from rewardshift.metrics.ngrams import Corpus, dense_rows, fits, slot_bits

__all__ = ["self_bleu_per_sample"]

_EPSILON = 0.1  # nltk SmoothingFunction(epsilon=0.1).method1: 0.1 matches for a zero numerator
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
    bits = slot_bits(corpus)
    ok = np.zeros(n_slots, dtype=bool)
    np.logical_and(alive[:-1], alive[1:], out=ok[:-1])
    slots = np.flatnonzero(ok)
    k = len(slots)
    if k == 0:
        nothing = np.zeros(n_slots, dtype=bool)
        return np.zeros(n_samples), nothing, np.full(n_slots, -1, dtype=np.int32), 0
    candidates = np.add.reduceat(ok, corpus.start, dtype=np.int64)  # (N,) per sample
    del ok
    if not fits(base ** span, bits):  # the composite could overflow: re-intern the keys
        composite = dense_rows([ids[slots + j] for j in range(span)])  # dense: < K, fits
        composite <<= bits
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
    next_alive = np.zeros(n_slots if want == "alive" else 0, dtype=bool)
    next_ids = np.full(n_slots if want == "ids" else 0, -1, dtype=np.int32)
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
    matches = (candidates - unshared) - deficit
    if want == "alive":
        return matches, next_alive, None, n_shared
    if want == "ids":
        return matches, next_ids >= 0, next_ids, n_shared
    return matches, None, None, n_shared


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
    bits = slot_bits(corpus)

    def packs(n: int) -> bool:  # the n shared-token ranks pack into a key beside the slot
        return fits(n_tokens ** n, bits)

    alive: np.ndarray | None = None
    gram_ids: np.ndarray | None = None
    token_ids: np.ndarray | None = None
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
                # the previous order asked for what this one reads (want, above)
                assert alive is not None and key_ids is not None
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
