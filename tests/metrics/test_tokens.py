"""Tests for rewardshift.metrics.tokens on hand-computed cases and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics.tokens import (
    branching_factor,
    entropy_by_position,
    next_token_entropy,
    next_token_entropy_per_sample,
    position_entropies,
)


def uniform(k: int) -> dict[str, float]:
    return {f"t{i}": -math.log(k) for i in range(k)}


ONE_HOT = {"the": 0.0}


def test_uniform_over_k_is_log_k_and_one_hot_is_zero():
    ents = position_entropies([uniform(2), uniform(5), uniform(20), ONE_HOT])
    np.testing.assert_allclose(ents, [math.log(2), math.log(5), math.log(20), 0.0], atol=1e-12)


def test_renormalises_truncated_top_k():
    # top-2 of a wider distribution: 0.3 and 0.1 renormalise to 0.75 / 0.25
    ents = position_entropies([{"a": math.log(0.3), "b": math.log(0.1)}])
    assert ents[0] == pytest.approx(scipy_entropy([0.75, 0.25]), abs=1e-12)


def test_matches_scipy_on_random_logits():
    rng = np.random.default_rng(0)
    sample = []
    expected = []
    for _ in range(50):
        k = int(rng.integers(1, 12))
        logits = rng.normal(0, 3, k)
        lp = np.log(softmax(logits)) - rng.uniform(0, 2)  # truncated: mass < 1
        sample.append({f"v{i}": float(v) for i, v in enumerate(lp)})
        expected.append(scipy_entropy(softmax(lp)))
    np.testing.assert_allclose(position_entropies(sample), expected, atol=1e-12)


def test_minus_inf_is_probability_zero():
    ents = position_entropies([{"a": math.log(0.5), "b": math.log(0.5), "c": -math.inf}])
    assert ents[0] == pytest.approx(math.log(2))


def test_pooled_mean_per_sample_and_branching_factor():
    data = [[uniform(4), ONE_HOT, uniform(4)], [uniform(2)]]
    pooled = (2 * math.log(4) + math.log(2)) / 4
    assert next_token_entropy(data) == pytest.approx(pooled)
    assert branching_factor(data) == pytest.approx(math.exp(pooled))
    np.testing.assert_allclose(next_token_entropy_per_sample(data),
                               [2 * math.log(4) / 3, math.log(2)])


def test_branching_factor_extremes():
    assert branching_factor([[uniform(7)] * 5] * 3) == pytest.approx(7.0)
    assert branching_factor([[ONE_HOT] * 4, [ONE_HOT]]) == pytest.approx(1.0)


def test_entropy_by_position_has_no_nan_and_respects_max_len():
    data = [[uniform(4), ONE_HOT, uniform(2)], [uniform(2)], []]
    got = entropy_by_position(data)
    np.testing.assert_allclose(got, [(math.log(4) + math.log(2)) / 2, 0.0, math.log(2)])
    assert not np.isnan(got).any()
    np.testing.assert_allclose(entropy_by_position(data, max_len=1), got[:1])
    assert entropy_by_position([[], []]).shape == (0,)
    with pytest.raises(InputError, match="max_len"):
        entropy_by_position(data, max_len=0)


def test_empty_samples():
    per = next_token_entropy_per_sample([[uniform(3)], []])
    assert per[0] == pytest.approx(math.log(3)) and math.isnan(per[1])
    with pytest.raises(MetricUndefinedError, match="no generated positions"):
        next_token_entropy([[], []])
    with pytest.raises(MetricUndefinedError):
        branching_factor([])


def test_order_and_token_names_do_not_matter():
    a = [[{"x": math.log(0.7), "y": math.log(0.2)}], [uniform(3)]]
    b = [[uniform(3)], [{"q": math.log(0.2), "z": math.log(0.7)}]]
    assert next_token_entropy(a) == pytest.approx(next_token_entropy(b))


@pytest.mark.parametrize("bad, match", [
    ([[{"a": float("nan")}]], "NaN"),
    ([[{"a": 0.5}]], "<= 0"),
    ([[{"a": -math.inf}]], "at least one finite"),
    ([[{}]], "at least one finite"),
    ([[{"a": "x"}]], "must be numbers"),
    ([["not a mapping"]], "mapping"),
    (["abc"], "sequence of"),
    ({"a": -1.0}, "sequence of samples"),
])
def test_malformed_input(bad, match):
    with pytest.raises(InputError, match=match):
        next_token_entropy(bad)
