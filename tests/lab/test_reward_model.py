"""Reward models: direction recovery, held-out accuracy, ensembles, misspecification, speed."""

from __future__ import annotations

import numpy as np
import pytest

from rewardshift._exceptions import InputError
from rewardshift.lab.raters import RaterPopulation
from rewardshift.lab.reward_model import MLPRM, Ensemble, LinearRM, pairwise_accuracy
from rewardshift.lab.worlds import get_world

TRUE_W = {"symmetry": 3.0, "clarity": 2.0, "iconic_moment": 4.0}


@pytest.fixture(scope="module")
def prefs():
    world = get_world("shatter")
    ws = world.sample(20_000, seed=0)
    return RaterPopulation(weights=TRUE_W, alpha=0.0).preferences(ws, 5_000, seed=1)


def test_linear_rm_recovers_weight_direction(prefs):
    fa, fb, y = prefs.pair_features(list(TRUE_W))
    rm = LinearRM().fit(fa, fb, y)
    w = np.array(list(TRUE_W.values()))
    cos = rm.coef_ @ w / np.linalg.norm(rm.coef_) / np.linalg.norm(w)
    assert cos > 0.95
    assert rm.names_ == list(TRUE_W)
    # held-out accuracy near the Bayes rate of the noisy labels
    bayes = np.maximum(prefs.frame["p_a"], 1 - prefs.frame["p_a"]).mean()
    assert rm.heldout_accuracy > bayes - 0.03
    # scores are centred over the training outcomes
    assert abs(rm.score(fa).mean()) < 0.1


def test_mlp_beats_chance_on_heldout():
    pytest.importorskip("torch")  # MLPRM trains in torch
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5_000, 4))

    def reward(x):
        return np.sin(2 * x[:, 0]) + x[:, 1] ** 2 - x[:, 2]

    y = (rng.random(5_000) < 1 / (1 + np.exp(-(reward(a) - reward(b))))).astype(int)
    mlp = MLPRM(seed=0).fit(a, b, y)
    assert mlp.heldout_accuracy > 0.7
    # the quadratic term is beyond a linear RM
    assert mlp.heldout_accuracy > LinearRM().fit(a, b, y).heldout_accuracy + 0.03
    # seeded: same seed, same scores
    np.testing.assert_allclose(mlp.score(a[:50]), MLPRM(seed=0).fit(a, b, y).score(a[:50]))


def test_ensemble_aggregations(prefs):
    fa, fb, y = prefs.pair_features(list(TRUE_W))
    members = [LinearRM(seed=i, heldout_fraction=0.0) for i in range(4)]
    ens = Ensemble(members, aggregation="mean", lam=0.5).fit(fa, fb, y)
    feats = prefs.sample.features
    s = ens.member_scores(feats)
    assert s.shape == (4, len(prefs.sample))
    assert s.std(axis=0).mean() > 0  # bootstrap resamples differ
    mean = ens.score(feats)
    np.testing.assert_allclose(mean, s.mean(axis=0))
    for agg, expected in [("min", s.min(axis=0)),
                          ("mean_minus_std", s.mean(axis=0) - 0.5 * s.std(axis=0)),
                          ("mean_minus_var", s.mean(axis=0) - 0.5 * s.var(axis=0))]:
        ens.aggregation = agg
        np.testing.assert_allclose(ens.score(feats), expected)
    ens.aggregation = "min"
    assert (ens.score(feats) <= mean + 1e-12).all()
    assert ens.heldout_accuracy > 0.7


def test_misspecified_rm_has_lower_heldout_accuracy(prefs):
    fa, fb, y = prefs.pair_features(list(TRUE_W))
    full = LinearRM(seed=0).fit(fa, fb, y)
    blind = LinearRM(seed=0, visible_features=("symmetry", "clarity")).fit(fa, fb, y)
    assert blind.names_ == ["symmetry", "clarity"]
    assert blind.heldout_accuracy < full.heldout_accuracy - 0.01
    with pytest.raises(InputError, match="iconic_moment"):
        full.score({"symmetry": np.zeros(2), "clarity": np.zeros(2)})


def test_reward_model_errors():
    a = np.zeros((10, 2))
    with pytest.raises(InputError, match="one label per pair"):
        LinearRM().fit(a, a, np.zeros(9, int))
    with pytest.raises(InputError, match="0/1"):
        LinearRM().fit(a, a, np.full(10, 2))
    with pytest.raises(InputError, match="not fitted"):
        LinearRM().score(a)
    with pytest.raises(InputError, match="aggregation"):
        Ensemble([LinearRM()], aggregation="max")
    assert pairwise_accuracy(np.array([1.0, 0.0]), np.array([0.0, 0.0]), np.array([1, 1])) == 0.75
