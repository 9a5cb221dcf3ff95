"""Lexical diversity of a set of generated samples: n-gram, self-BLEU, compression, ROUGE-L.

Every function is pure. Data are positional, options keyword-only. Inputs are pre-tokenized
samples, ``tokenized: Sequence[Sequence[str]]`` (see :mod:`rewardshift.metrics.tokenize`),
except :func:`compression_ratio`, which reads raw texts. The values depend on the tokenizer,
so record which one was used.

Direction of each metric:

=====================  ==============  ============================
metric                 range           direction
=====================  ==============  ============================
``distinct_n``         [0, 1]          higher = more diverse
``ngram_diversity``    [0, max_n]      higher = more diverse
``ead``                [0, inf)        higher = more diverse
``self_bleu``          [0, 1]          higher = LESS diverse
``compression_ratio``  (0, inf)        higher = LESS diverse
``homogenization``     [0, 1]          higher = LESS diverse
=====================  ==============  ============================

Errors: :class:`~rewardshift._exceptions.InputError` for malformed input (raw strings where
tokens are expected, ``n < 1``, ...), :class:`~rewardshift._exceptions.MetricUndefinedError`
where the data give a metric no value (no samples, too few for a pairwise metric, no n-grams).
"""

from __future__ import annotations

import lzma
import math
import numbers
import zlib
from collections.abc import Sequence

import numpy as np

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics import _bleu, ngrams

__all__ = [
    "compression_ratio",
    "distinct_n",
    "ead",
    "ead_from_counts",
    "ead_per_order",
    "homogenization",
    "ngram_diversity",
    "rouge_l_matrix",
    "self_bleu",
    "self_bleu_per_sample",
]


# --------------------------------------------------------------------------- input checks

def _check_tokenized(tokenized: Sequence[Sequence[str]], *, metric: str,
                     min_samples: int = 1) -> list[Sequence[str]]:
    """Return the samples as a list after checking their shape (tokens are checked later).

    Raises InputError for a bare string, a sample that is a string, or a sample that is not a
    sequence; MetricUndefinedError for fewer than ``min_samples`` samples.
    """
    if isinstance(tokenized, (str, bytes)):
        raise InputError(
            f"{metric}: expected a sequence of tokenized samples, got one string; tokenize the "
            "texts first, e.g. rewardshift.metrics.tokenize.tokenize_all(texts)"
        )
    try:
        samples = list(tokenized)
    except TypeError as exc:
        raise InputError(f"{metric}: expected a sequence of tokenized samples, got "
                         f"{type(tokenized).__name__}") from exc
    for i, sample in enumerate(samples):
        if isinstance(sample, np.ndarray) and sample.ndim == 1:
            samples[i] = sample = sample.tolist()
        if isinstance(sample, (str, bytes)):
            raise InputError(
                f"{metric}: sample {i} is a string ({sample[:40]!r}), not a list of tokens; "
                "tokenize the texts first, e.g. rewardshift.metrics.tokenize.tokenize_all(texts)"
            )
        if not isinstance(sample, Sequence):
            raise InputError(f"{metric}: sample {i} is a {type(sample).__name__}, not a list of "
                             "string tokens")
    if len(samples) < min_samples:
        raise MetricUndefinedError(
            f"{metric} needs at least {min_samples} sample(s), got {len(samples)}; "
            "generate more samples for this set"
        )
    return samples


def _check_int(value: object, name: str, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, else InputError naming the rule."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name}={value} should be >= {minimum}")
    return int(value)


def _no_ngrams(metric: str, n: int, samples: list[Sequence[str]]) -> MetricUndefinedError:
    longest = max(map(len, samples), default=0)
    return MetricUndefinedError(
        f"{metric}: there are no {n}-grams (the longest of the {len(samples)} samples has "
        f"{longest} tokens); use a smaller n or longer samples"
    )


# --------------------------------------------------------------------------- n-gram metrics

def _ngram_counts(samples: list[Sequence[str]], max_n: int) -> list[tuple[int, int]]:
    """``[(unique, total), ...]`` pooled over the set for n = 1 .. max_n."""
    levels = ngrams.ngram_levels(ngrams.encode(samples), max_n)
    return [(level.n_unique, len(level.start)) for level in levels]


def distinct_n(tokenized: Sequence[Sequence[str]], *, n: int = 2) -> float:
    """Distinct-n: the fraction of the n-grams of the set that are unique.

    ``distinct_n = |unique n-grams| / |n-grams|``, both pooled over all samples (an n-gram is
    ``n`` consecutive tokens of one sample; none crosses samples).

    Parameters
    ----------
    tokenized : sequence of sequences of str, shape (n_samples, n_tokens_i)
        The tokenized samples.
    n : int, default=2
        The n-gram order, >= 1.

    Returns
    -------
    float
        In [0, 1]; higher = more diverse. 1.0 when no n-gram repeats.

    Raises
    ------
    MetricUndefinedError
        No samples, or no sample has ``n`` tokens.

    Notes
    -----
    Li, Galley, Brockett, Gao, Dolan 2016, "A Diversity-Promoting Objective Function for
    Neural Conversation Models" (NAACL). The value falls as the set grows even for equally
    diverse text; compare sets of equal size in tokens, or use :func:`ead`.

    Examples
    --------
    >>> distinct_n([["the", "cat", "sat"], ["the", "cat", "ran"]], n=2)  # 3 unique of 4
    0.75
    """
    samples = _check_tokenized(tokenized, metric="distinct_n")
    n = _check_int(n, "n", minimum=1)
    return _distinct_n(samples, n)


def _distinct_n(samples: list[Sequence[str]], n: int) -> float:
    unique, total = _ngram_counts(samples, n)[-1]
    if total == 0:
        raise _no_ngrams("distinct_n", n, samples)
    return unique / total


def ngram_diversity(tokenized: Sequence[Sequence[str]], *, max_n: int = 4) -> float:
    """N-gram diversity score: distinct-n summed over n = 1 .. max_n.

    ``ngram_diversity = sum_{n=1}^{max_n} |unique n-grams| / |n-grams|``, pooled over the set.

    Parameters
    ----------
    tokenized : sequence of sequences of str, shape (n_samples, n_tokens_i)
        The tokenized samples.
    max_n : int, default=4
        The highest order, >= 1.

    Returns
    -------
    float
        In [0, max_n]; higher = more diverse.

    Raises
    ------
    MetricUndefinedError
        No samples, or no sample has ``max_n`` tokens (a term of the sum has no value).

    Notes
    -----
    Padmakumar & He 2023, "Does Writing with Language Models Reduce Content Diversity?"
    (the n-gram diversity score, after Meister et al. 2023, "Locally Typical Sampling").

    Examples
    --------
    >>> round(ngram_diversity([["the", "cat", "sat"], ["the", "cat", "ran"]], max_n=2), 4)
    1.4167
    """
    samples = _check_tokenized(tokenized, metric="ngram_diversity")
    max_n = _check_int(max_n, "max_n", minimum=1)
    return _ngram_diversity(samples, max_n)


def _ngram_diversity(samples: list[Sequence[str]], max_n: int) -> float:
    counts = _ngram_counts(samples, max_n)
    if counts[-1][1] == 0:
        raise _no_ngrams("ngram_diversity", max_n, samples)
    return sum(unique / total for unique, total in counts)


def ead(tokenized: Sequence[Sequence[str]], *, vocab_size: int, max_n: int = 5) -> float:
    """Expectation-adjusted distinct (EAD), averaged over n-gram orders.

    For each order ``n`` with ``C >= 1`` n-grams (pooled over the set), of which ``U`` are
    unique, and ``V = vocab_size``::

        EAD_n = U / (V * (1 - ((V - 1) / V) ** C))

    the denominator being the expected number of distinct items in ``C`` uniform draws from
    ``V`` (computed as ``-expm1(C * log1p(-1 / V))``, stable for large ``V`` and ``C``). The
    result is the mean of ``EAD_n`` over the orders n = 1 .. max_n that have an n-gram.

    Parameters
    ----------
    tokenized : sequence of sequences of str, shape (n_samples, n_tokens_i)
        The tokenized samples.
    vocab_size : int
        Size of the tokenizer's vocabulary, ``V``; at least the number of distinct tokens in
        the set. The same ``V`` is used for every order, as the project's definition states.
    max_n : int, default=5
        The highest order, >= 1.

    Returns
    -------
    float
        In [0, inf); higher = more diverse. Near 1 for uniformly random tokens, and unlike
        distinct-n it does not fall just because the set is longer. It can exceed 1.

    Raises
    ------
    MetricUndefinedError
        No samples, or no tokens at all.
    InputError
        ``vocab_size`` below the number of distinct tokens seen, or ``max_n < 1``.

    Notes
    -----
    Liu, Sabour, Zheng, Ke, Huang, Huang 2022, "Rethinking and Refining the Distinct Metric"
    (ACL). See :func:`ead_per_order` for the value of every order.

    Examples
    --------
    >>> # n=1: U=4, C=6, V=10: 4 / (10 * (1 - 0.9**6)) = 4 / 4.68559 = 0.85368
    >>> round(ead([["the", "cat", "sat"], ["the", "cat", "ran"]], vocab_size=10, max_n=1), 5)
    0.85368
    """
    per_order = ead_per_order(tokenized, vocab_size=vocab_size, max_n=max_n)
    return math.fsum(per_order.values()) / len(per_order)


def ead_per_order(tokenized: Sequence[Sequence[str]], *, vocab_size: int,
                  max_n: int = 5) -> dict[int, float]:
    """EAD of every order n = 1 .. max_n that has at least one n-gram.

    Same definition, parameters and errors as :func:`ead`.

    Returns
    -------
    dict of int to float
        ``{n: EAD_n}`` in increasing ``n``; orders with no n-gram are left out.

    Examples
    --------
    >>> per_order = ead_per_order([["a", "b", "a"]], vocab_size=2, max_n=3)
    >>> {n: round(v, 4) for n, v in per_order.items()}  # n=1: U=2, C=3: 2 / (2 * (1 - 0.5**3))
    {1: 1.1429, 2: 1.3333, 3: 1.0}
    """
    samples = _check_tokenized(tokenized, metric="ead")
    max_n = _check_int(max_n, "max_n", minimum=1)
    vocab_size = _check_int(vocab_size, "vocab_size", minimum=1)
    return _ead_per_order(samples, vocab_size, max_n)


def _ead_per_order(samples: list[Sequence[str]], vocab_size: int,
                   max_n: int) -> dict[int, float]:
    counts = _ngram_counts(samples, max_n)
    if counts[0][0] > vocab_size:
        raise InputError(
            f"vocab_size={vocab_size} is smaller than the {counts[0][0]} distinct tokens in the "
            "samples; pass the tokenizer's vocabulary size"
        )
    out = {n: ead_from_counts(unique, total, vocab_size)
           for n, (unique, total) in enumerate(counts, start=1) if total > 0}
    if not out:
        raise _no_ngrams("ead", 1, samples)
    return out


def ead_from_counts(unique: int, total: int, vocab_size: int) -> float:
    """EAD of one order from its counts: ``U / (V · (1 − ((V − 1) / V) ** C))``.

    ``U = unique`` distinct n-grams among ``C = total >= 1``, ``V = vocab_size >= 1``; the
    denominator is the expected number of distinct values among ``C`` uniform draws from
    ``V``, computed as ``V · -expm1(C · log1p(-1 / V))`` (1 when ``V = 1``). The one formula
    behind :func:`ead` and the subset counts of
    :class:`~rewardshift.metrics.ngrams.NgramIndex`; inputs are not checked (Liu et al. 2022).

    Examples
    --------
    >>> round(ead_from_counts(4, 6, 10), 5)
    0.85368
    """
    if vocab_size == 1:
        return float(unique)
    return float(unique / (vocab_size * -np.expm1(total * np.log1p(-1.0 / vocab_size))))


# --------------------------------------------------------------------------- self-BLEU

def self_bleu(tokenized: Sequence[Sequence[str]], *, max_n: int = 4) -> float:
    """Self-BLEU: the mean BLEU of every sample against all the others as references.

    ``self_bleu = mean_i BLEU(hyp = x_i, refs = {x_j : j != i})``, with BLEU exactly nltk's
    ``sentence_bleu(refs, hyp, weights=(1/max_n,) * max_n,
    smoothing_function=SmoothingFunction().method1)``::

        p_n  = m_n / max(1, h - n + 1)   (m_n = clipped n-gram matches, h = len(hyp))
             = 0.1 / max(1, h - n + 1)   where m_n = 0 (method1, epsilon = 0.1)
        BP   = 1 if h > r, 0 if h = 0, else exp(1 - r / h)
               (r = the reference length closest to h, ties to the shorter)
        BLEU = 0 if m_1 = 0, else BP * exp(sum_n log(p_n) / max_n)

    where a hypothesis n-gram's count is clipped by its largest count in any one reference.

    Parameters
    ----------
    tokenized : sequence of sequences of str, shape (n_samples, n_tokens_i)
        The tokenized samples, at least 2.
    max_n : int, default=4
        The highest n-gram order (BLEU-4 by default), >= 1.

    Returns
    -------
    float
        In [0, 1]; higher = LESS diverse. 1.0 when all samples are the same (and have at
        least ``max_n`` tokens).

    Raises
    ------
    MetricUndefinedError
        Fewer than 2 samples.

    Notes
    -----
    Zhu et al. 2018, "Texygen: A Benchmarking Platform for Text Generation Models" (SIGIR);
    BLEU: Papineni et al. 2002; smoothing: Chen & Cherry 2014. Exact, in one sort of the
    n-grams per order: the largest count of an n-gram in the *other* samples comes from its two
    largest per-sample counts, so no pair of samples is ever compared (about 2,800 times faster
    than the nltk loop at 300 samples of 60 tokens, equal to it within 1e-15).

    Examples
    --------
    >>> self_bleu([["a", "b", "c", "d"], ["a", "b", "c", "d"]])
    1.0
    >>> round(self_bleu([["the", "cat", "sat", "down"], ["the", "cat", "ran", "off"]]), 4)
    0.1699
    """
    return float(np.mean(self_bleu_per_sample(tokenized, max_n=max_n)))


def self_bleu_per_sample(tokenized: Sequence[Sequence[str]], *, max_n: int = 4) -> np.ndarray:
    """BLEU of every sample against all the others: the terms :func:`self_bleu` averages.

    Same definition, parameters and errors as :func:`self_bleu`.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        In [0, 1]; higher = LESS diverse.

    Examples
    --------
    >>> self_bleu_per_sample([["a", "b"], ["a", "b"], ["c"]], max_n=2).round(4)
    array([1., 1., 0.])
    """
    samples = _check_tokenized(tokenized, metric="self_bleu", min_samples=2)
    max_n = _check_int(max_n, "max_n", minimum=1)
    return _bleu.self_bleu_per_sample(ngrams.encode(samples), max_n)


# --------------------------------------------------------------------------- compression

def _deflate(data: bytes) -> bytes:
    """The DEFLATE stream gzip -9 writes, without gzip's 18-byte header and trailer."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)  # negative wbits: raw stream, no container
    return c.compress(data) + c.flush()


def _lzma2(data: bytes) -> bytes:
    """The LZMA2 stream xz -6 writes, without the .xz container (~60 bytes of framing).

    The dictionary is sized to the input (a power of two, 4 KiB to xz -6's 8 MiB): a window
    at least as long as the data finds the same matches, and allocating 8 MiB of match-finder
    tables for a few hundred bytes costs ~1 ms per call.
    """
    dict_size = min(max(4096, 1 << (len(data) - 1).bit_length()), 8 << 20)
    return lzma.compress(data, format=lzma.FORMAT_RAW,
                         filters=[{"id": lzma.FILTER_LZMA2, "preset": 6,
                                   "dict_size": dict_size}])


# Raw streams: a container's fixed framing would dominate the ratio of a small set (the K
# samples of one prompt), making identical short samples look *diverse*. xz preset 6 is xz's
# default; above it only the dictionary grows (8 MiB → 64 MiB), which changes nothing for
# inputs under 8 MiB but costs ~30 ms of set-up per call.
_COMPRESSORS = {"gzip": _deflate, "xz": _lzma2}


def compression_ratio(texts: Sequence[str], *, algorithm: str = "gzip") -> float:
    """Compression ratio: raw size over compressed size of the texts joined by newlines.

    ``compression_ratio = len(b) / len(compress(b))`` with ``b`` the UTF-8 bytes of
    ``"\\n".join(sorted(texts))``, compressed in memory:

    * ``"gzip"``: the DEFLATE stream of ``gzip -9`` (zlib level 9, raw: no gzip header);
    * ``"xz"``: the LZMA2 stream of ``xz -6`` (raw: no .xz container).

    Container framing is left out so that small sets (the K samples of one prompt) are not
    dominated by a constant header: with it, ten identical short samples can score below 1.

    Parameters
    ----------
    texts : sequence of str, shape (n_samples,)
        Raw texts (not tokens).
    algorithm : {"gzip", "xz"}, default="gzip"
        The compressor.

    Returns
    -------
    float
        In (0, inf); higher = LESS diverse (repetitive text compresses well). Below 1 for
        very short inputs, where the container's header dominates.

    Raises
    ------
    MetricUndefinedError
        The joined text is empty.
    InputError
        A text is not a string, or an unknown algorithm.

    Notes
    -----
    Shaib, Barrow, Sun, Siu, Wallace, Nenkova 2024, "Standardizing the Measurement of Text
    Diversity: A Tool and a Comparative Analysis of Scores", who compress the texts in the
    order given. Here they are sorted first (code-point order), so that the value is a
    function of the set, like every other set metric here, rather than of its order; this
    puts texts with a common beginning side by side, which a compressor's window can only
    use better.

    Examples
    --------
    >>> compression_ratio(["the cat sat on the mat"] * 20) > compression_ratio(
    ...     ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn"])
    True
    """
    if isinstance(texts, (str, bytes)):
        raise InputError("compression_ratio: expected a sequence of texts, got one string; "
                         "wrap it in a list")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(
                f"compression_ratio: text {i} is a {type(text).__name__}, not a str; it reads "
                "raw texts, not tokens (join tokens with ' '.join(tokens))"
            )
    if algorithm not in _COMPRESSORS:
        raise InputError(f"algorithm={algorithm!r} is not one of {sorted(_COMPRESSORS)}")
    return _compression_ratio(texts, algorithm)


def _compression_ratio(texts: list[str], algorithm: str) -> float:
    data = "\n".join(sorted(texts)).encode("utf-8")
    if not data:
        raise MetricUndefinedError(
            f"compression_ratio: the {len(texts)} texts are empty (0 bytes); nothing to compress"
        )
    return len(data) / len(_COMPRESSORS[algorithm](data))


# --------------------------------------------------------------------------- ROUGE-L

def rouge_l_matrix(tokenized: Sequence[Sequence[str]]) -> np.ndarray:
    """ROUGE-L F1 of every pair of samples, from their exact longest common subsequence.

    For samples of lengths ``m`` and ``n`` with LCS length ``l``: precision ``l / m``, recall
    ``l / n``, and F1 (beta = 1) ``2 l / (m + n)`` -- the ``rouge-score`` F-measure. By
    convention two empty samples score 1.0 (they are identical; ``rouge-score`` returns 0), one
    empty sample against a non-empty one 0.0.

    Parameters
    ----------
    tokenized : sequence of sequences of str, shape (n_samples, n_tokens_i)
        The tokenized samples, at least 1.

    Returns
    -------
    ndarray of float64, shape (n_samples, n_samples)
        Symmetric, diagonal 1.0, entries in [0, 1]; higher = more alike.

    Raises
    ------
    MetricUndefinedError
        No samples.

    Notes
    -----
    Lin 2004, "ROUGE: A Package for Automatic Evaluation of Summaries". The LCS is computed
    bit-parallel (Allison & Dix 1986; Hyyro 2004), with Python integers as bit vectors: for
    each sample, one pass over its tokens updates its LCS against all later samples at once,
    O(n_samples**2 * length**2 / word size) in all.

    Examples
    --------
    >>> rouge_l_matrix([["a", "b", "c"], ["a", "c"]])  # LCS 2: 2 * 2 / (3 + 2) = 0.8
    array([[1. , 0.8],
           [0.8, 1. ]])
    """
    samples = _check_tokenized(tokenized, metric="rouge_l_matrix")
    return _rouge_l_matrix(samples)


def _rouge_l_matrix(samples: list[Sequence[str]]) -> np.ndarray:
    lcs = _lcs_matrix(samples).astype(np.float64)
    lengths = np.fromiter(map(len, samples), dtype=np.float64, count=len(samples))
    total = lengths[:, None] + lengths[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 2.0 * lcs / total, 1.0)


def _lcs_matrix(samples: list[Sequence[str]]) -> np.ndarray:
    """(n, n) int64 LCS length of every pair of samples (tokens are checked to be strings).

    All samples are laid into one bit vector, sample ``i`` in bits ``offset[i] ..
    offset[i] + len_i - 1`` followed by one guard bit that is kept 0, so that the carries of
    the update ``V = ((V + U) | (V - U)) & keep`` with ``U = V & match[token]`` stop at each
    sample's end. After the tokens of sample ``j``, the zero bits of block ``i`` count
    LCS(sample i, sample j). ``V - U`` never borrows because ``U`` is a subset of ``V``.
    """
    n = len(samples)
    corpus = ngrams.encode(samples)
    lengths = corpus.lengths
    offset = np.concatenate([[0], np.cumsum(lengths + 1)])  # (n+1,) block starts, then the end
    first = np.concatenate([[0], np.cumsum(lengths)])  # (n+1,) first token of each sample
    bit = np.arange(first[-1]) + np.repeat(offset[:-1] - first[:-1], lengths)  # (T,)
    match = _match_masks(corpus.ids, bit, corpus.vocab_size)
    token_bits = np.zeros(int(offset[-1]), dtype=np.uint8)
    token_bits[bit] = 1
    keep_all = _int_from_bits(token_bits)  # every token bit set, every guard bit clear
    token_rows = [row.tolist() for row in np.split(corpus.ids, first[1:-1])]
    lcs = np.zeros((n, n), dtype=np.int64)
    np.fill_diagonal(lcs, lengths)
    for j in range(n - 1):
        shift = int(offset[j + 1])  # only blocks i > j are kept: bits shift .. end
        keep = keep_all >> shift
        v = keep
        shifted: dict[int, int] = {}
        for token in token_rows[j]:
            m = shifted.get(token)
            if m is None:
                m = shifted[token] = match[token] >> shift
            if m:
                u = v & m
                v = ((v + u) | (v - u)) & keep
        ones = _block_popcounts(v, offset[j + 1:] - shift)
        lcs[j, j + 1:] = lcs[j + 1:, j] = lengths[j + 1:] - ones
    return lcs


def _match_masks(tok: np.ndarray, bit: np.ndarray, vocab_size: int) -> list[int]:
    """For every token id, the int with the bits ``bit[p]`` of its positions ``p`` set."""
    order = np.argsort(tok, kind="stable")  # positions grouped by token, increasing inside
    bounds = np.searchsorted(tok[order], np.arange(vocab_size + 1))
    bits_sorted = bit[order]
    masks = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi - lo == 1:
            masks.append(1 << int(bits_sorted[lo]))
            continue
        where = bits_sorted[lo:hi]
        low = int(where[0]) & ~7  # start on a byte boundary
        span = np.zeros(int(where[-1]) - low + 1, dtype=np.uint8)
        span[where - low] = 1
        masks.append(_int_from_bits(span) << low)
    return masks


def _int_from_bits(bits: np.ndarray) -> int:
    """The int whose binary digit ``k`` is ``bits[k]`` (a 0/1 uint8 array)."""
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def _block_popcounts(v: int, bounds: np.ndarray) -> np.ndarray:
    """Set bits of ``v`` in each block ``[bounds[k], bounds[k+1])``; ``bounds[0] == 0``."""
    n_bits = int(bounds[-1])
    raw = np.frombuffer(v.to_bytes((n_bits + 7) // 8, "little"), dtype=np.uint8)
    cumulative = np.concatenate([[0], np.cumsum(np.unpackbits(raw, bitorder="little"),
                                                dtype=np.int64)])
    counts: np.ndarray = cumulative[bounds[1:]] - cumulative[bounds[:-1]]
    return counts


def homogenization(tokenized: Sequence[Sequence[str]], *, max_samples: int = 500,
                   seed: int = 0) -> float:
    """Homogenization: mean ROUGE-L F1 over all unordered pairs of samples.

    ``homogenization = mean_{i < j} F1_LCS(x_i, x_j)`` (see :func:`rouge_l_matrix` for F1 and
    its conventions for empty samples). Above ``max_samples`` samples, it is computed on
    ``max_samples`` of them drawn without replacement by
    ``numpy.random.default_rng(seed).choice``, since the cost grows with the square of the
    number of samples.

    Parameters
    ----------
    tokenized : sequence of sequences of str, shape (n_samples, n_tokens_i)
        The tokenized samples, at least 2.
    max_samples : int, default=500
        Largest number of samples compared, >= 2.
    seed : int, default=0
        Seed of the subsample (used only when ``n_samples > max_samples``).

    Returns
    -------
    float
        In [0, 1]; higher = LESS diverse.

    Raises
    ------
    MetricUndefinedError
        Fewer than 2 samples.

    Notes
    -----
    Padmakumar & He 2023, "Does Writing with Language Models Reduce Content Diversity?"
    (homogenization score with ROUGE-L).

    Examples
    --------
    >>> round(homogenization([["a", "b", "c"], ["a", "c"], ["d"]]), 4)  # (0.8 + 0 + 0) / 3
    0.2667
    """
    samples = _check_tokenized(tokenized, metric="homogenization", min_samples=2)
    max_samples = _check_int(max_samples, "max_samples", minimum=2)
    seed = _check_int(seed, "seed", minimum=0)
    return _homogenization(samples, max_samples, seed)


def _homogenization(samples: list[Sequence[str]], max_samples: int, seed: int) -> float:
    if len(samples) > max_samples:
        chosen = np.random.default_rng(seed).choice(len(samples), size=max_samples,
                                                    replace=False)
        samples = [samples[i] for i in chosen.tolist()]
    scores = _rouge_l_matrix(samples)
    upper = np.triu_indices(len(samples), k=1)
    return float(scores[upper].mean())
