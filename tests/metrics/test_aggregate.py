"""Aggregation (scopes) and the statistics it uses (intervals, tests, effect sizes)."""

from __future__ import annotations

import numpy as np
import pytest

from rewardshift import InputError
from rewardshift.metrics import aggregate as agg
from rewardshift.metrics import stats as st


def test_group_and_across_indices():
    pids = ["a", "b", "a", "c", "b", "a"]
    groups = agg.group_indices(pids)
    assert list(groups) == ["a", "b", "c"]
    assert groups["a"].tolist() == [0, 2, 5]
    across = agg.across_indices(pids, seed=3)
    assert sorted(pids[i] for i in across) == ["a", "b", "c"]
    assert np.array_equal(across, agg.across_indices(pids, seed=3))  # seeded
    pooled = agg.across_indices(pids, mode="pooled", size=4, seed=1)
    assert len(set(pooled.tolist())) == 4
    with pytest.raises(InputError):
        agg.across_indices(pids, mode="other")


def test_bootstrap_ci_covers_mean_and_is_seeded():
    v = np.random.default_rng(0).normal(5.0, 1.0, size=400)
    lo, hi = st.bootstrap_mean_ci(v, seed=1)
    assert lo < v.mean() < hi and hi - lo < 0.3
    assert st.bootstrap_mean_ci(v, seed=1) == (lo, hi)
    assert st.bootstrap_mean_ci(np.array([1.0])) is None


def test_half_sample_se_matches_standard_error_of_mean():
    # For the mean, the delete-d jackknife SE equals the usual s/sqrt(n) in expectation.
    x = np.random.default_rng(2).normal(size=600)
    se = st.half_sample_se(lambda idx: {"m": x[idx].mean()}, np.arange(600), n_resamples=400)
    assert se["m"] == pytest.approx(x.std(ddof=1) / np.sqrt(600), rel=0.15)
    assert st.half_sample_se(lambda idx: {"m": 0.0}, np.arange(2), min_size=2) == {}


def test_permutation_tests_detect_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 50), rng.normal(1.0, 1, 50)
    assert st.permutation_test_values(a, b, n_resamples=999) < 0.01
    assert st.permutation_test_values(a, a + rng.normal(0, 1e-3, 50), paired=True,
                                       n_resamples=999) > 0.05
    assert st.permutation_test_values(np.ones(5), np.ones(5)) == 1.0
    x = np.concatenate([a, b])
    p = st.permutation_test_sets(lambda idx: {"m": x[idx].mean()}, np.arange(50),
                                  np.arange(50, 100), n_resamples=199)
    assert p["m"] == pytest.approx(1 / 200)
    q = st.permutation_test_sets(lambda idx: {"m": x[idx].mean()}, np.arange(0, 50, 2),
                                  np.arange(1, 50, 2), n_resamples=199)
    assert q["m"] > 0.05


def test_cohens_d_known_values():
    a = np.array([0.0, 2.0, 4.0])  # sd 2
    b = a + 2.0
    assert st.cohens_d(a, b) == pytest.approx(1.0)
    assert st.cohens_d(a, b, paired=True) is None  # no spread in the differences
    assert st.cohens_d(a, np.array([1.0, 3.0, 8.0]), paired=True) == pytest.approx(2.0 / 1.7320508)


def test_quality_mask():
    assert agg.quality_mask([0.1, 0.5, 0.9], threshold=0.5).tolist() == [False, True, True]
    with pytest.raises(InputError, match="sample #2"):
        agg.quality_mask([0.1, float("nan")], threshold=0.5)


def test_paired_lengths_must_match():
    with pytest.raises(InputError, match="equal lengths"):
        st.cohens_d(np.ones(3), np.ones(4), paired=True)
    with pytest.raises(InputError, match="equal lengths"):
        st.permutation_test_values(np.ones(3), np.ones(4), paired=True)
