"""Self-BLEU against its reference, a loop over nltk's ``sentence_bleu``; and its engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics import _bleu
from rewardshift.metrics.lexical import self_bleu, self_bleu_per_sample

pytest.importorskip("nltk")  # the reference implementation (the dev extra)

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu  # noqa: E402

SMOOTH = SmoothingFunction().method1


def nltk_self_bleu_per_sample(samples: list[list[str]], max_n: int = 4) -> np.ndarray:
    """The definition: each sample against all the others, nltk smoothing method1."""
    weights = (1.0 / max_n,) * max_n
    return np.array([
        sentence_bleu(samples[:i] + samples[i + 1:], hyp, weights=weights,
                      smoothing_function=SMOOTH)
        for i, hyp in enumerate(samples)
    ], dtype=float)


def zipf_corpus(n_samples: int, *, vocab: int = 300, lengths: tuple[int, int] = (0, 40),
                seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    words = [f"w{i}" for i in range(vocab)]
    return [[words[i] for i in rng.choice(vocab, size=int(rng.integers(*lengths)), p=p)]
            for _ in range(n_samples)]


# Small alphabets make n-grams repeat (clipping, ties of the top count); Unicode included.
TOKENS = st.sampled_from(["a", "b", "c", "ä", "日本", "🙂", "a b", ""])
SAMPLE = st.one_of(st.lists(TOKENS, max_size=3), st.lists(TOKENS, max_size=12))
CORPUS = st.lists(SAMPLE, min_size=2, max_size=9)


@settings(max_examples=400, deadline=None)
@given(CORPUS, st.integers(min_value=1, max_value=5))
def test_equals_nltk_on_random_corpora(samples, max_n):
    ours = self_bleu_per_sample(samples, max_n=max_n)
    np.testing.assert_allclose(ours, nltk_self_bleu_per_sample(samples, max_n), rtol=0, atol=1e-9)
    assert self_bleu(samples, max_n=max_n) == pytest.approx(ours.mean(), abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_nltk_on_zipfian_corpus(seed):
    samples = zipf_corpus(60, seed=seed)
    np.testing.assert_allclose(self_bleu_per_sample(samples), nltk_self_bleu_per_sample(samples),
                               rtol=0, atol=1e-12)


def test_equals_nltk_with_very_uneven_lengths():
    # one long sample among tiny and empty ones: the slot layout pads samples to blocks
    rng = np.random.default_rng(7)
    words = ["a", "b", "c", "d"]
    samples = [[words[i] for i in rng.integers(0, 4, 300)]] + [
        [words[i] for i in rng.integers(0, 4, k)] for k in (0, 1, 2, 3, 5, 0, 64, 65)]
    for max_n in (1, 2, 4, 6):
        np.testing.assert_allclose(self_bleu_per_sample(samples, max_n=max_n),
                                   nltk_self_bleu_per_sample(samples, max_n), atol=1e-12)


def test_two_samples_hand_case():
    # hyp "the cat sat down" vs ref "the cat ran off": p1 = 2/4, p2 = 1/3, p3 = p4 = 0.1/2, 0.1/1
    # (method1), BP = 1 (equal lengths): exp((log .5 + log 1/3 + log .05 + log .1) / 4)
    samples = [["the", "cat", "sat", "down"], ["the", "cat", "ran", "off"]]
    expected = np.exp((np.log(0.5) + np.log(1 / 3) + np.log(0.05) + np.log(0.1)) / 4)
    np.testing.assert_allclose(self_bleu_per_sample(samples), [expected, expected], atol=1e-12)
    np.testing.assert_allclose(self_bleu_per_sample(samples), nltk_self_bleu_per_sample(samples))


def test_identical_samples_give_one():
    samples = [["we", "all", "say", "the", "same", "thing"]] * 5
    assert self_bleu(samples) == 1.0


def test_identical_short_samples_follow_nltk():
    # length 2 < 4: p1 = p2 = 1, p3 = p4 = 0.1 / 1 (no n-grams: denominator 1): sqrt(0.1)
    samples = [["hi", "there"]] * 3
    assert self_bleu(samples) == pytest.approx(0.1 ** 0.5, abs=1e-12)
    assert self_bleu(samples) == pytest.approx(nltk_self_bleu_per_sample(samples).mean())


def test_empty_hypotheses_score_zero():
    assert self_bleu([[], [], ["a"]]) == 0.0  # no unigram match anywhere: nltk returns 0
    np.testing.assert_array_equal(self_bleu_per_sample([[], ["a"], ["a"]], max_n=1), [0, 1, 1])
    # BLEU-4 of ["a"]: p1 = 1, p2 = p3 = p4 = 0.1 / 1 (no n-grams): 0.1 ** (3 / 4)
    np.testing.assert_allclose(self_bleu_per_sample([[], ["a"], ["a"]]), [0, 0.1 ** 0.75,
                                                                          0.1 ** 0.75])


def test_brevity_penalty_uses_closest_other_length_ties_to_shorter():
    # hyp of length 3 against lengths 2 and 4 (tie): nltk takes r = 2, so BP = 1
    samples = [["a", "b", "c"], ["a", "b"], ["a", "b", "c", "d"]]
    np.testing.assert_allclose(self_bleu_per_sample(samples, max_n=2),
                               nltk_self_bleu_per_sample(samples, 2), atol=1e-12)


def test_shuffling_permutes_the_per_sample_values():
    samples = zipf_corpus(40, vocab=50, seed=3)
    perm = np.random.default_rng(0).permutation(len(samples))
    base = self_bleu_per_sample(samples)
    shuffled = self_bleu_per_sample([samples[i] for i in perm])
    np.testing.assert_allclose(shuffled, base[perm], atol=0)
    assert self_bleu([samples[i] for i in perm]) == pytest.approx(self_bleu(samples))


def test_bounds_and_direction():
    varied = zipf_corpus(30, vocab=2000, seed=4)
    repetitive = zipf_corpus(30, vocab=5, seed=4)
    assert 0.0 <= self_bleu(varied) < self_bleu(repetitive) <= 1.0  # higher = LESS diverse


def test_long_samples():
    rng = np.random.default_rng(5)
    samples = [[f"w{i}" for i in rng.integers(0, 500, 20_000)] for _ in range(3)]
    value = self_bleu(samples)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(nltk_self_bleu_per_sample(samples).mean(), abs=1e-12)


@pytest.mark.parametrize("samples", [[], [["only", "one"]]])
def test_fewer_than_two_samples_is_undefined(samples):
    with pytest.raises(MetricUndefinedError, match="at least 2 sample"):
        self_bleu(samples)


@pytest.mark.parametrize("bad, match", [
    ("a raw string", "one string"),
    (["raw text one", "raw text two"], "is a string"),
    ([["a"], [1, 2]], "tokens must be strings"),
    ([["a"], [["nested"]]], "tokens must be strings"),
    ([["a"], None], "not a list of string tokens"),
])
def test_malformed_input(bad, match):
    with pytest.raises(InputError, match=match):
        self_bleu(bad)


@pytest.mark.parametrize("max_n", [0, -1, 2.0, True])
def test_bad_max_n(max_n):
    with pytest.raises(InputError, match="max_n"):
        self_bleu([["a"], ["b"]], max_n=max_n)


# --------------------------------------------------------------------------- the engine

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=6), min_size=2, max_size=10))
def test_closest_other_length(lengths):
    ours = _bleu._closest_other_length(np.array(lengths, dtype=np.int64))
    for i, h in enumerate(lengths):
        others = lengths[:i] + lengths[i + 1:]
        assert ours[i] == min(others, key=lambda r, h=h: (abs(r - h), r))
