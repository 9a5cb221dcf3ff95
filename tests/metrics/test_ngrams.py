"""The n-gram engine against plain ``Counter`` loops over tuples: levels, ids, subset counts."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardshift._exceptions import InputError
from rewardshift.metrics import ngrams
from rewardshift.metrics.ngrams import NgramIndex

# Small alphabets make n-grams repeat; Unicode, empty and one-token samples included.
TOKENS = st.sampled_from(["a", "b", "c", "ä", "日本", "🙂", "a b", ""])
SAMPLE = st.one_of(st.lists(TOKENS, max_size=3), st.lists(TOKENS, max_size=12))


def grams(sample, n):
    return [tuple(sample[p:p + n]) for p in range(len(sample) - n + 1)]


def reference_levels(samples, max_n):
    """Per order: unique n-grams, total, and the count of each n-gram in each sample."""
    out = []
    for n in range(1, max_n + 1):
        per_sample = [Counter(grams(s, n)) for s in samples]
        pooled = Counter()
        for counts in per_sample:
            pooled.update(counts)
        pairs = sorted((i, sorted(c.values())) for i, c in enumerate(per_sample) if c)
        out.append((len(pooled), sum(pooled.values()), pairs))
    return out


def level_summary(level):
    by_sample: dict[int, list[int]] = {}
    for s, c in zip(level.pair_sample.tolist(), level.pair_count.tolist(), strict=True):
        by_sample.setdefault(s, []).append(c)
    pairs = sorted((s, sorted(cs)) for s, cs in by_sample.items())
    return level.n_unique, len(level.start), pairs


@settings(max_examples=200, deadline=None)
@given(st.lists(SAMPLE, min_size=1, max_size=8), st.integers(min_value=1, max_value=5))
def test_ngram_levels_match_counters(samples, max_n):
    levels = list(ngrams.ngram_levels(ngrams.encode(samples), max_n))
    assert [level.n for level in levels] == list(range(1, max_n + 1))
    assert [level_summary(level) for level in levels] == reference_levels(samples, max_n)


@settings(max_examples=200, deadline=None)
@given(st.lists(SAMPLE, min_size=1, max_size=8), st.integers(min_value=1, max_value=5))
def test_ids_name_ngrams_exactly(samples, max_n):
    """Equal n-grams get equal ids, different ones different ids, dense 0 .. G-1, by sample."""
    index = NgramIndex.build(samples, max_n=max_n)
    for n in range(1, max_n + 1):
        occurrences = [(i, g) for i, s in enumerate(samples) for g in grams(s, n)]
        ids, owner = index.ids[n - 1].tolist(), index.owner[n - 1].tolist()
        assert owner == [i for i, _ in occurrences]
        name = dict(zip(ids, (g for _, g in occurrences), strict=True))
        assert len(name) == len(set(name.values())) == index.n_types[n - 1]
        assert [name[k] for k in ids] == [g for _, g in occurrences]
        assert sorted(name) == list(range(index.n_types[n - 1]))
        starts = index.starts[n - 1].tolist()
        assert [starts[i + 1] - starts[i] for i in range(len(samples))] == \
            [max(len(s) - n + 1, 0) for s in samples]


@settings(max_examples=100, deadline=None)
@given(st.lists(SAMPLE, min_size=1, max_size=20), st.data())
def test_subset_counts_match_counters(samples, data):
    index = NgramIndex.build(samples, max_n=4)
    subset = np.array(data.draw(st.lists(st.integers(0, len(samples) - 1), unique=True)),
                      dtype=np.int64)  # distinct indices: half-samples and permutation sets
    for n in range(1, 5):
        chosen = [g for i in subset.tolist() for g in grams(samples[i], n)]
        assert index.counts(subset, n) == (len(set(chosen)), len(chosen))


def test_sort_fallback_matches_fast_path():
    rng = np.random.default_rng(6)
    corpus = ngrams.encode([[f"w{i}" for i in rng.integers(0, 30, int(rng.integers(0, 40)))]
                            for _ in range(40)])
    key = rng.integers(0, 50, len(corpus.ids))
    fast = ngrams._sort(key, 50, corpus.slots, corpus)
    slow = ngrams._sort(key, 2 ** 62, corpus.slots, corpus)  # would overflow: argsort
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


def test_pack_pair_fallback_is_exact():
    a = np.array([5, 7, 5, 5, 0])
    b = np.array([1, 1, 1, 2, 1])
    key, bound = ngrams._pack_pair(a, b, 2 ** 40, 2 ** 40)  # a * 2**40 + b would overflow
    assert key.max() < bound
    # equal pairs get equal keys, different pairs different keys
    assert (key[0] == key[2]) and len(set(key.tolist())) == 4
    fast, _ = ngrams._pack_pair(a, b, 8, 3)
    np.testing.assert_array_equal(np.argsort(key, kind="stable"), np.argsort(fast, kind="stable"))


def test_fits_is_the_int64_bound():
    assert ngrams.fits(2 ** 63 - 1) and not ngrams.fits(2 ** 63)
    assert ngrams.fits(2 ** 40 - 1, 23) and not ngrams.fits(2 ** 40, 23)  # (2**63 - 1) >> 23


def test_non_string_tokens_are_refused():
    with pytest.raises(InputError, match="tokens must be strings"):
        NgramIndex.build([["a"], [1]])


def test_all_is_sorted_and_importable():
    assert list(ngrams.__all__) == sorted(ngrams.__all__)
    assert all(hasattr(ngrams, name) for name in ngrams.__all__)


def test_counts_module_is_a_deprecated_alias():
    from rewardshift.metrics import counts, lexical

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert counts.NgramIndex is NgramIndex
        assert counts.ead_from_counts is lexical.ead_from_counts
    assert [w.category for w in caught] == [DeprecationWarning] * 2
