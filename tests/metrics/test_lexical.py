"""distinct-n, n-gram diversity, EAD, compression ratio, ROUGE-L and homogenization.

Hand-computed cases (the arithmetic is in the comments), independent implementations (an
O(mn) LCS table), and the properties every set metric shares: identical samples give the
least diversity, shuffling the set changes nothing, bounded metrics stay in their bounds.
"""

from __future__ import annotations

import doctest
import gzip
import lzma
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics import lexical
from rewardshift.metrics.lexical import (
    compression_ratio,
    distinct_n,
    ead,
    ead_per_order,
    homogenization,
    ngram_diversity,
    rouge_l_matrix,
    self_bleu,
)

TOKENS = st.sampled_from(["a", "b", "c", "ä", "日本", "🙂"])
SAMPLE = st.lists(TOKENS, max_size=10)
CORPUS = st.lists(SAMPLE, min_size=2, max_size=8)

CATS = [["the", "cat", "sat"], ["the", "cat", "ran"]]


def zipf_corpus(n_samples: int, *, vocab: int = 300, length: int = 30,
                seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    words = [f"w{i}" for i in range(vocab)]
    return [[words[i] for i in rng.choice(vocab, size=length, p=p)] for _ in range(n_samples)]


def test_doctests():
    result = doctest.testmod(lexical)
    assert result.failed == 0 and result.attempted >= 10


# --------------------------------------------------------------------------- distinct-n

def test_distinct_n_hand_cases():
    # unigrams the cat sat the cat ran: 4 unique of 6
    assert distinct_n(CATS, n=1) == pytest.approx(4 / 6)
    # bigrams (the cat) (cat sat) (the cat) (cat ran): 3 unique of 4
    assert distinct_n(CATS, n=2) == 0.75
    # trigrams (the cat sat) (the cat ran): 2 of 2; within one sample a b a b: ab ba ab -> 2/3
    assert distinct_n(CATS, n=3) == 1.0
    assert distinct_n([["a", "b", "a", "b"]], n=2) == pytest.approx(2 / 3)


def test_distinct_n_does_not_cross_samples():
    # "b a" only exists across the boundary of ["a", "b"] and ["a", "b"]: bigrams ab, ab -> 1/2
    assert distinct_n([["a", "b"], ["a", "b"]], n=2) == 0.5


def test_identical_samples_give_minimum_distinct():
    one = ["a", "b", "c", "d"]
    for k in (1, 2, 5):
        # k copies: 3 unique bigrams of 3k
        assert distinct_n([one] * k, n=2) == pytest.approx(1 / k)
    assert distinct_n([one] * 5, n=2) < distinct_n([one, ["e", "f", "g", "h"]] * 2 + [one], n=2)


# --------------------------------------------------------------------------- n-gram diversity

def test_ngram_diversity_hand_case():
    # 4/6 (unigrams) + 3/4 (bigrams) + 2/2 (trigrams) = 0.6667 + 0.75 + 1
    assert ngram_diversity(CATS, max_n=3) == pytest.approx(4 / 6 + 3 / 4 + 1)
    assert ngram_diversity(CATS, max_n=1) == pytest.approx(distinct_n(CATS, n=1))


def test_ngram_diversity_identical_samples():
    # k copies of 4 distinct tokens: sum_n (5 - n) / (k (5 - n)) = 4 / k for max_n = 4
    assert ngram_diversity([["a", "b", "c", "d"]] * 4, max_n=4) == pytest.approx(1.0)


# --------------------------------------------------------------------------- EAD

def test_ead_hand_cases():
    V = 10
    # n=1: U=4, C=6 -> 4 / (10 (1 - 0.9^6)) = 4 / 4.68559 = 0.853681
    # n=2: U=3, C=4 -> 3 / (10 (1 - 0.9^4)) = 3 / 3.439 = 0.872347
    # n=3: U=2, C=2 -> 2 / (10 (1 - 0.9^2)) = 2 / 1.9 = 1.052632
    expected = {1: 4 / 4.68559, 2: 3 / 3.439, 3: 2 / 1.9}
    got = ead_per_order(CATS, vocab_size=V, max_n=3)
    assert list(got) == [1, 2, 3]
    for n, value in expected.items():
        assert got[n] == pytest.approx(value, rel=1e-12)
    assert ead(CATS, vocab_size=V, max_n=3) == pytest.approx(sum(expected.values()) / 3)


def test_ead_skips_orders_without_ngrams():
    # max_n = 5 but the longest sample has 3 tokens: orders 1..3 only
    assert list(ead_per_order(CATS, vocab_size=10)) == [1, 2, 3]
    assert ead(CATS, vocab_size=10) == pytest.approx(ead(CATS, vocab_size=10, max_n=3))


def test_ead_vocab_size_one():
    # V = 1: ((V-1)/V)^C = 0, the expectation is 1: n=1: U=1 -> 1; n=2: U=1 -> 1
    assert ead_per_order([["a", "a"]], vocab_size=1, max_n=2) == {1: 1.0, 2: 1.0}


def test_ead_is_stable_for_huge_vocabularies():
    # V -> inf: expected distinct -> C, so EAD_1 -> distinct-1 (the naive 1 - ((V-1)/V)^C
    # loses every digit here: ((V-1)/V) rounds to 1.0 for V = 1e17)
    got = ead(CATS, vocab_size=10 ** 17, max_n=1)
    assert got == pytest.approx(4 / 6, rel=1e-12)


def test_ead_rejects_a_vocabulary_smaller_than_observed():
    with pytest.raises(InputError, match="vocab_size=3 is smaller than the 4 distinct"):
        ead(CATS, vocab_size=3)
    with pytest.raises(InputError, match="vocab_size"):
        ead(CATS, vocab_size=0)


def test_ead_of_identical_samples_is_lower():
    base = ["a", "b", "c", "d"]
    assert (ead([base] * 4, vocab_size=100)
            < ead([base, ["e", "f", "g", "h"], ["i", "j", "k", "l"], ["m", "n", "o", "p"]],
                  vocab_size=100))


# --------------------------------------------------------------------------- shared properties

SET_METRICS = {
    "distinct_n": lambda s: distinct_n(s, n=1),
    "ngram_diversity": lambda s: ngram_diversity(s, max_n=1),
    "ead": lambda s: ead(s, vocab_size=10),
    "self_bleu": lambda s: self_bleu(s, max_n=2),
    "homogenization": lambda s: homogenization(s),
    "compression_ratio": lambda s: compression_ratio([" ".join(t) for t in s]),
}
BOUNDS = {"distinct_n": (0, 1), "ngram_diversity": (0, 1), "ead": (0, math.inf),
          "self_bleu": (0, 1), "homogenization": (0, 1), "compression_ratio": (0, math.inf)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(TOKENS, min_size=1, max_size=10), min_size=2, max_size=8),
       st.randoms(use_true_random=False))
def test_shuffling_changes_nothing_and_bounds_hold(samples, random):
    shuffled = list(samples)
    random.shuffle(shuffled)
    for name, metric in SET_METRICS.items():
        value = metric(samples)
        low, high = BOUNDS[name]
        assert low <= value <= high, name
        assert metric(shuffled) == pytest.approx(value, rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("name", ["distinct_n", "ngram_diversity", "ead"])
def test_identical_samples_are_least_diverse(name):
    varied = zipf_corpus(6, vocab=10, length=8, seed=1)
    same = [varied[0]] * 6
    assert SET_METRICS[name](same) <= SET_METRICS[name](varied)


@pytest.mark.parametrize("name", ["self_bleu", "homogenization"])
def test_identical_samples_are_most_homogeneous(name):
    same = [["a", "b", "c", "d"]] * 4
    assert SET_METRICS[name](same) == 1.0


def test_very_long_texts():
    rng = np.random.default_rng(2)
    long = [[f"w{i}" for i in rng.integers(0, 3000, 20_000)] for _ in range(2)]
    assert 0 < distinct_n(long, n=2) <= 1
    assert 0 < ngram_diversity(long) <= 4
    assert ead(long, vocab_size=3000) > 0
    assert 0 <= homogenization(long) <= 1
    assert compression_ratio([" ".join(t) for t in long]) > 1


# --------------------------------------------------------------------------- undefined values

@pytest.mark.parametrize("metric", [
    lambda s: distinct_n(s), lambda s: ngram_diversity(s), lambda s: ead(s, vocab_size=10),
    lambda s: self_bleu(s), lambda s: homogenization(s), lambda s: rouge_l_matrix(s),
])
def test_empty_set_is_undefined(metric):
    with pytest.raises(MetricUndefinedError, match="got 0"):
        metric([])


@pytest.mark.parametrize("metric", [lambda s: self_bleu(s), lambda s: homogenization(s)])
def test_one_sample_is_undefined_for_pairwise_metrics(metric):
    with pytest.raises(MetricUndefinedError, match="at least 2 sample"):
        metric([["a", "b"]])


def test_numpy_arrays_of_tokens_are_accepted():
    as_array = np.array([["the", "cat", "sat"], ["the", "cat", "ran"]])
    assert distinct_n(as_array, n=2) == distinct_n(CATS, n=2)
    assert self_bleu(as_array) == self_bleu(CATS)


def test_one_sample_is_fine_for_pooled_metrics():
    assert distinct_n([["a", "b", "a"]], n=1) == pytest.approx(2 / 3)


def test_zero_ngrams_is_undefined_with_a_helpful_message():
    with pytest.raises(MetricUndefinedError, match="no 3-grams .* longest of the 2 samples has 2"
                                                   " tokens.*smaller n"):
        distinct_n([["a", "b"], ["c"]], n=3)
    with pytest.raises(MetricUndefinedError, match="no 4-grams"):
        ngram_diversity([["a", "b"], ["c"]], max_n=4)
    with pytest.raises(MetricUndefinedError, match="no 1-grams"):
        ead([[], []], vocab_size=10)


@pytest.mark.parametrize("call", [
    lambda: distinct_n(CATS, n=0), lambda: ngram_diversity(CATS, max_n=0),
    lambda: ead(CATS, vocab_size=10, max_n=0), lambda: distinct_n(CATS, n=1.5),
    lambda: distinct_n("the cat"), lambda: distinct_n(["the cat", "a dog"]),
    lambda: distinct_n([["a"], [3]]), lambda: homogenization(CATS, max_samples=1),
    lambda: homogenization(CATS, seed=-1),
])
def test_malformed_input(call):
    with pytest.raises(InputError):
        call()


# --------------------------------------------------------------------------- compression

def test_compression_ratio_is_bytes_over_gzip_bytes():
    texts = ["the cat sat on the mat", "naïve café 日本", "the cat sat on the hat"]
    data = "\n".join(sorted(texts)).encode("utf-8")  # canonical order: a function of the set
    # the raw DEFLATE stream is gzip's payload: gzip = 10-byte header + stream + 8-byte trailer
    assert compression_ratio(texts) == len(data) / (len(gzip.compress(data, 9, mtime=0)) - 18)
    raw = lzma.compress(data, format=lzma.FORMAT_RAW,
                        filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
    assert compression_ratio(texts, algorithm="xz") == len(data) / len(raw)
    assert lzma.decompress(raw, format=lzma.FORMAT_RAW,
                           filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}]) == data


def test_identical_short_samples_compress_better_than_varied_ones():
    same = ["red green blue"] * 4
    varied = ["red green blue", "amber teal ochre", "sage coral umber", "violet cyan mauve"]
    for algo in ("gzip", "xz"):
        assert compression_ratio(same, algorithm=algo) > compression_ratio(varied,
                                                                           algorithm=algo)


def test_compression_ratio_direction_and_determinism():
    repetitive = ["the cat sat on the mat"] * 50
    rng = np.random.default_rng(0)
    varied = ["".join(chr(c) for c in rng.integers(97, 123, 22)) for _ in range(50)]
    assert compression_ratio(repetitive) > 5 > compression_ratio(varied)  # higher = LESS diverse
    assert compression_ratio(varied) == compression_ratio(list(varied))


@pytest.mark.parametrize("texts", [[], [""]])
def test_compression_ratio_of_nothing_is_undefined(texts):
    with pytest.raises(MetricUndefinedError, match="nothing to compress"):
        compression_ratio(texts)


def test_compression_ratio_rejects_tokens_and_unknown_algorithms():
    with pytest.raises(InputError, match="raw texts, not tokens"):
        compression_ratio([["the", "cat"]])
    with pytest.raises(InputError, match="one string"):
        compression_ratio("the cat")
    with pytest.raises(InputError, match="not one of"):
        compression_ratio(["x"], algorithm="zstd")


# --------------------------------------------------------------------------- ROUGE-L

def lcs_dp(a, b):
    """Plain O(mn) dynamic programme: the independent reference."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1],
                                                                      table[i + 1][j])
    return table[-1][-1]


def rouge_score_f1(lcs, target_len, prediction_len):
    """The rouge-score package's F-measure from an LCS length (beta = 1)."""
    if lcs == 0:
        return 0.0
    precision, recall = lcs / prediction_len, lcs / target_len
    return 2 * precision * recall / (precision + recall)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcd"), max_size=70), min_size=1, max_size=7))
def test_bit_parallel_lcs_equals_dp(samples):
    # up to 70 tokens: blocks cross the 64-bit word boundary; empty samples included
    lcs = lexical._lcs_matrix(samples)
    for i, a in enumerate(samples):
        for j, b in enumerate(samples):
            assert lcs[i, j] == lcs_dp(a, b)


@pytest.mark.parametrize("a, b, lcs", [
    # the cat sat on the mat / the cat on the mat: drop "sat" -> 5
    ("the cat sat on the mat", "the cat on the mat", 5),
    # a b c d e / e d c b a: any single token -> 1
    ("a b c d e", "e d c b a", 1),
    # police killed the gunman / the gunman kill police: "the gunman" -> 2 (Lin 2004's example)
    ("police killed the gunman", "the gunman kill police", 2),
    ("x y z", "u v w", 0),
])
def test_rouge_l_hand_cases(a, b, lcs):
    ta, tb = a.split(), b.split()
    matrix = rouge_l_matrix([ta, tb])
    assert matrix[0, 1] == matrix[1, 0] == pytest.approx(rouge_score_f1(lcs, len(ta), len(tb)))
    assert matrix[0, 1] == pytest.approx(2 * lcs / (len(ta) + len(tb)))
    np.testing.assert_array_equal(np.diag(matrix), [1.0, 1.0])


def test_rouge_l_empty_conventions():
    matrix = rouge_l_matrix([[], [], ["a"]])
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_rouge_l_matrix_on_a_corpus_matches_the_dynamic_programme():
    # the bit-parallel matrix over 200 samples of 60 words at once
    samples = zipf_corpus(200, vocab=5000, length=60, seed=5)
    matrix = rouge_l_matrix(samples)
    np.testing.assert_array_equal(matrix, matrix.T)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, len(samples), size=(20, 2)):
        a, b = samples[i], samples[j]
        assert matrix[i, j] == pytest.approx(rouge_score_f1(lcs_dp(a, b), len(a), len(b)))


def test_rouge_l_matrix_shape_and_symmetry():
    samples = zipf_corpus(25, vocab=40, length=20, seed=3)
    matrix = rouge_l_matrix(samples)
    assert matrix.shape == (25, 25) and matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, matrix.T)
    assert ((0 <= matrix) & (matrix <= 1)).all()


# --------------------------------------------------------------------------- homogenization

def test_homogenization_hand_case():
    # pairs: (a b c, a c) LCS 2 -> 0.8; (a b c, d) 0; (a c, d) 0 -> 0.8 / 3
    assert homogenization([["a", "b", "c"], ["a", "c"], ["d"]]) == pytest.approx(0.8 / 3)


def test_homogenization_subsamples_with_the_seed():
    samples = zipf_corpus(30, vocab=20, length=10, seed=4)
    chosen = np.random.default_rng(7).choice(30, size=10, replace=False)
    expected = homogenization([samples[i] for i in chosen])
    assert homogenization(samples, max_samples=10, seed=7) == pytest.approx(expected)
    assert homogenization(samples, max_samples=10, seed=7) == homogenization(
        samples, max_samples=10, seed=7)
    full = rouge_l_matrix(samples)
    assert homogenization(samples) == pytest.approx(full[np.triu_indices(30, 1)].mean())


def test_xz_dictionary_sized_to_input_changes_no_byte():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    for n in (1, 10, 200, 3000):
        data = "\n".join(" ".join(rng.choice(words, 12)) for _ in range(n)).encode()
        full = lzma.compress(data, format=lzma.FORMAT_RAW,
                             filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
        assert compression_ratio([data.decode()], algorithm="xz") == len(data) / len(full)
