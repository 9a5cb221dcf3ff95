"""Tests for rewardshift.metrics.distribution against scipy and hand-computed cases."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics.distribution import (
    chi_square,
    coverage,
    entropy,
    histogram,
    js_divergence,
    kl_divergence,
    mass_coverage,
    normalise,
    support_size,
)

counts_st = st.lists(st.integers(0, 50), min_size=1, max_size=12).filter(lambda c: sum(c) > 0)


def test_histogram_order_and_keys():
    assert list(histogram(["b", "a", "c", "a", "b", "d", 3, "3"]).items()) == [
        ("3", 2), ("a", 2), ("b", 2), ("c", 1), ("d", 1)]
    assert histogram([]) == {}
    with pytest.raises(InputError, match="single string"):
        histogram("abc")


@settings(max_examples=50, deadline=None)
@given(counts_st, st.sampled_from([2.0, math.e, 10.0]))
def test_entropy_matches_scipy(c, base):
    assert entropy(np.array(c), base=base) == pytest.approx(stats.entropy(c, base=base),
                                                           abs=1e-12)
    as_map = {f"k{i}": v for i, v in enumerate(c)}
    assert entropy(as_map, base=base) == pytest.approx(stats.entropy(c, base=base), abs=1e-12)


def test_entropy_hand_cases_and_errors():
    assert entropy({"a": 4}) == 0.0
    assert entropy(Counter("aabb"), base=2) == pytest.approx(1.0)
    with pytest.raises(MetricUndefinedError, match="sum to 0"):
        entropy({"a": 0})
    with pytest.raises(InputError, match="base"):
        entropy([1, 1], base=1)
    with pytest.raises(InputError, match=">= 0"):
        entropy({"a": -1, "b": 2})
    with pytest.raises(InputError, match="1-D"):
        entropy(np.ones((2, 2)))
    with pytest.raises(InputError, match="as strings"):
        entropy({1: 1, "1": 2})


def test_support_size_and_normalise():
    assert support_size({"a": 3, "b": 0, "c": 1}) == 2
    assert support_size([0, 0, 5]) == 1
    assert normalise([1, 3]) == {"0": 0.25, "1": 0.75}
    p = normalise({"a": 2, "b": 0}, support=["c", "a", "b"], smoothing=0.5)
    assert list(p) == ["c", "a", "b"]
    assert p == pytest.approx({"c": 0.5 / 3.5, "a": 2.5 / 3.5, "b": 0.5 / 3.5})
    with pytest.raises(InputError, match="not in `support`"):
        normalise({"a": 1, "z": 1}, support=["a"])
    with pytest.raises(MetricUndefinedError):
        normalise({"a": 0})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=10)
       .filter(lambda r: sum(a for a, _ in r) > 0 and sum(b for _, b in r) > 0))
def test_kl_js_match_scipy(rows):
    p = np.array([a for a, _ in rows], float)
    q = np.array([b for _, b in rows], float)
    both = (p > 0) | (q > 0)  # our union support drops categories absent from both
    ps, qs = p[both] + 0.5, q[both] + 0.5
    assert kl_divergence(p, q) == pytest.approx(stats.entropy(ps, qs), abs=1e-12)
    assert kl_divergence(p, q, smoothing=0) == pytest.approx(stats.entropy(p, q), abs=1e-12)
    js = js_divergence(p, q)
    assert js == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-10)
    assert 0 <= js <= math.log(2)
    assert js == pytest.approx(js_divergence(q, p))


def test_divergences_of_equal_distributions_are_zero():
    p = {"US": 6, "FR": 3, "JP": 1}
    scaled = {k: 10 * v for k, v in p.items()}
    assert js_divergence(p, scaled) == pytest.approx(0, abs=1e-15)
    assert kl_divergence(p, p) == 0.0
    assert kl_divergence(p, scaled, smoothing=0) == pytest.approx(0, abs=1e-15)
    assert chi_square(p, p) == pytest.approx((0.0, 1.0))


def test_kl_hand_cases():
    # p = (1, 0) vs q = (1/2, 1/2): KL = log 2
    assert kl_divergence({"a": 3}, {"a": 1, "b": 1}, smoothing=0) == pytest.approx(math.log(2))
    assert kl_divergence({"a": 1, "b": 1}, {"a": 3}, smoothing=0) == math.inf
    # Jeffreys smoothing: p = (3.5, 0.5)/4, q = (1.5, 1.5)/3
    want = 0.875 * math.log(0.875 / 0.5) + 0.125 * math.log(0.125 / 0.5)
    assert kl_divergence({"a": 3}, {"a": 1, "b": 1}) == pytest.approx(want)
    assert js_divergence({"a": 5}, {"b": 1}) == pytest.approx(math.log(2))
    with pytest.raises(InputError, match="smoothing"):
        kl_divergence({"a": 1}, {"a": 1}, smoothing=-1)
    with pytest.raises(MetricUndefinedError):
        js_divergence({"a": 0}, {"a": 1})


def test_chi_square_matches_scipy_without_smoothing():
    obs = {"a": 30, "b": 50, "c": 20}
    ref = {"a": 0.25, "b": 0.5, "c": 0.25}
    stat, p = chi_square(obs, ref, smoothing=0)
    want = stats.chisquare([30, 50, 20], [25, 50, 25])
    assert (stat, p) == pytest.approx((want.statistic, want.pvalue))


def test_chi_square_smoothing_handles_unseen_reference_category():
    obs = {"a": 10, "b": 10, "z": 5}
    ref = {"a": 50, "b": 50}
    stat, p = chi_square(obs, ref)
    e = np.array([50, 50, 0.5]) * 25 / 100.5
    want = stats.chisquare([10, 10, 5], e)
    assert (stat, p) == pytest.approx((want.statistic, want.pvalue))
    assert p < 1e-6
    with pytest.raises(MetricUndefinedError, match="smoothing > 0"):
        chi_square(obs, ref, smoothing=0)
    with pytest.raises(MetricUndefinedError, match="degrees of freedom"):
        chi_square({"a": 3}, {"a": 1})


def test_coverage_and_mass_coverage():
    ref = {"US": 5, "FR": 3, "JP": 1, "BR": 1, "XX": 0}
    p = {"US": 9, "FR": 1, "DE": 4, "JP": 0}
    assert coverage(p, ref) == 0.5
    assert mass_coverage(p, ref) == pytest.approx(0.8)
    assert coverage(ref, ref) == 1.0 and mass_coverage(ref, ref) == 1.0
    assert coverage({"ZZ": 1}, ref) == 0.0 and mass_coverage({}, ref) == 0.0
    with pytest.raises(MetricUndefinedError, match="reference"):
        coverage(p, {"US": 0})


def test_counter_and_array_inputs_agree():
    values = ["a", "b", "a", "c", "a"]
    h = histogram(values)
    assert entropy(Counter(values)) == pytest.approx(entropy(h))
    assert entropy(np.array(list(h.values()))) == pytest.approx(entropy(h))
