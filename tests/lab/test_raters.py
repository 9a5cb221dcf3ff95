"""Raters: Bradley-Terry preferences at the right rate, TRL records, likes, alpha recovery."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.lab.raters import RaterPopulation, estimate_alpha
from rewardshift.lab.worlds import get_world


@pytest.fixture(scope="module")
def shatter():
    world = get_world("shatter")
    return world, world.sample(20_000, seed=0)


def test_preferences_follow_bradley_terry_rate(shatter):
    world, ws = shatter
    raters = RaterPopulation.for_world(world, weight=3.0, alpha=0.6, noise_scale=0.7,
                                       weight_sd=0.5)
    f = raters.preferences(ws, 60_000, seed=1).frame
    # the judging rater's BT probability predicts the label, bin by bin
    bins = np.quantile(f["p_a"], np.linspace(0, 1, 11))
    which = np.clip(np.digitize(f["p_a"], bins[1:-1]), 0, 9)
    for b in range(10):
        sel = which == b
        se = np.sqrt(f["p_a"][sel].mean() * (1 - f["p_a"][sel].mean()) / sel.sum())
        assert abs(f["label"][sel].mean() - f["p_a"][sel].mean()) < 4 * se + 1e-3
    # the higher-utility side wins at the BT rate, more often than chance
    wins_high = np.where(f["d_utility"] > 0, f["label"], 1 - f["label"]).mean()
    expected = np.maximum(f["p_a"], 1 - f["p_a"]).mean()
    assert wins_high > 0.6 and abs(wins_high - expected) < 0.01
    # label noise: logistic regression slope on the utility difference is 1 / s
    from rewardshift.lab.raters import _logistic_no_intercept

    slope = _logistic_no_intercept(f[["d_utility"]].to_numpy(), f["label"].to_numpy(float))[0]
    assert slope == pytest.approx(1 / 0.7, rel=0.05)


def test_preferences_trl_records_and_seeding(shatter):
    world, ws = shatter
    raters = RaterPopulation.for_world(world)
    p1, p2 = raters.preferences(ws, 200, seed=5), raters.preferences(ws, 200, seed=5)
    assert p1.frame.equals(p2.frame)
    rec = p1.records
    assert len(rec) == 200 and set(rec[0]) == {"prompt", "chosen", "rejected"}
    assert "shatter" in rec[0]["prompt"]
    i = int(p1.frame["i_chosen"].iloc[0])
    assert rec[0]["chosen"] == ws.describe(i)
    assert (p1.frame["i_a"] != p1.frame["i_b"]).all()
    fa, fb, y = p1.pair_features(["symmetry"], include_log_ref=True)
    assert set(fa) == {"symmetry", "log_ref"} and len(y) == 200
    np.testing.assert_array_equal(fa["symmetry"], ws.features["symmetry"][p1.frame["i_a"]])


def test_likes_go_to_preferred_outcomes(shatter):
    world, ws = shatter
    raters = RaterPopulation.for_world(world, weight=3.0, weight_sd=0.3, n_raters=20)
    likes = raters.likes(ws, n_viewers=500, seed=0)
    assert likes.dtype.kind == "i" and likes.min() >= 0 and likes.max() <= 500
    np.testing.assert_array_equal(likes, raters.likes(ws, n_viewers=500, seed=0))
    assert stats.spearmanr(likes, raters.utility(ws)).statistic > 0.8
    # the seed text: symmetric frames get more likes than asymmetric ones
    sym = ws.features["symmetry"]
    assert likes[sym > np.quantile(sym, 0.8)].mean() > 2 * likes[sym < np.quantile(sym, 0.2)].mean()


@pytest.mark.parametrize("method", ["bootstrap", "fisher"])
def test_alpha_recovered_within_ci_and_ten_percent(shatter, method):
    world, ws = shatter
    raters = RaterPopulation.for_world(world, weight=2.0, alpha=0.6)
    f = raters.preferences(ws, 60_000, seed=2).frame
    est = estimate_alpha(f, seed=0, method=method)
    assert est.ci_low <= 0.6 <= est.ci_high
    assert est.value == pytest.approx(0.6, rel=0.10)
    assert est.n_pairs == pytest.approx(15_000, rel=0.01)


def test_alpha_recovered_on_personas_and_with_noise_scale():
    world = get_world("personas")
    raters = RaterPopulation.for_world(world, alpha=0.6, noise_scale=0.5)
    f = raters.preferences(world.enumerate(), 60_000, seed=3).frame
    est = estimate_alpha(f, seed=0, method="fisher")
    assert est.ci_low <= 0.6 <= est.ci_high and est.value == pytest.approx(0.6, rel=0.10)
    # without the noise scale (BT units) the coefficient is alpha / s
    assert estimate_alpha(f, seed=0, method="fisher", noise_scale=1.0).value == \
        pytest.approx(1.2, rel=0.10)


def test_rater_errors(shatter):
    world, ws = shatter
    with pytest.raises(InputError, match="weights"):
        RaterPopulation()
    with pytest.raises(InputError, match="does not have"):
        RaterPopulation(weights={"sparkle": 1.0}).preferences(ws, 10, seed=0)
    with pytest.raises(InputError, match="columns"):
        estimate_alpha(RaterPopulation.for_world(world).preferences(ws, 10, seed=0)
                       .frame.drop(columns="d_quality"), seed=0)
    with pytest.raises(MetricUndefinedError, match="equal-quality pairs"):
        estimate_alpha(RaterPopulation.for_world(world).preferences(ws, 100, seed=0).frame,
                       seed=0)
