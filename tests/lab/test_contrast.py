"""The perceptual-against-physical contrast: the thesis in one line, with its interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardshift.lab.analysis import bias_contrast
from rewardshift.lab.pool import WeightedPool

KINDS = {"look": "perceptual", "truth": "physical"}


def _pool(n: int = 4000, seed: int = 0) -> WeightedPool:
    rng = np.random.default_rng(seed)
    return WeightedPool.from_samples(n, features={"look": rng.normal(size=n),
                                                  "truth": rng.normal(size=n)})


def _tilt(pool: WeightedPool, axis: str, k: float) -> np.ndarray:
    """A policy that narrows ``axis`` around 1: weights exp(-k (x - 1)^2)."""
    w = np.exp(-k * (pool.feature(axis) - 1.0) ** 2)
    return w / w.sum()


def test_narrowing_what_raters_see_is_the_thesis():
    pool = _pool()
    c = bias_contrast(pool, _tilt(pool, "look", 2.0), KINDS, targets={"look": 1.0},
                      n_boot=100, seed=1)
    lo, hi = c["contrast"]["ci"]
    assert c["contrast"]["value"] < 0 and hi < 0 and lo <= c["contrast"]["value"] <= hi
    # analytic: a N(0,1) axis tilted by exp(-2 (x-1)^2) has variance 1/5: log ratio -1.61
    assert c["perceptual"]["value"] == pytest.approx(math.log(1 / 5), abs=0.15)
    assert abs(c["physical"]["value"]) < 0.1
    assert c["toward_ideal"]["value"] == pytest.approx(0.8, abs=0.1)  # mean 4/5
    assert c["verdict"].startswith("The reward narrowed what raters see more than what is so")
    assert "[" in c["verdict"] and not c["exact"]


def test_the_reverse_and_no_contrast_are_said_too():
    pool = _pool()
    rev = bias_contrast(pool, _tilt(pool, "truth", 2.0), KINDS, n_boot=50)
    assert rev["contrast"]["value"] > 0
    assert rev["verdict"].startswith("The reward narrowed the physical axes more")
    none = bias_contrast(pool, pool.base_weights, KINDS, n_boot=50)
    assert none["contrast"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert none["verdict"].startswith("No clear contrast")
    one_kind = bias_contrast(pool, pool.base_weights, {"look": "perceptual"}, n_boot=0)
    assert one_kind["contrast"] is None and "no contrast" in one_kind["verdict"]


def test_an_enumerated_pool_is_exact():
    x = np.linspace(-2, 2, 41)
    p = np.exp(-x ** 2 / 2)
    pool = WeightedPool.from_probabilities(p / p.sum(), features={"look": x, "truth": x[::-1]})
    tuned = p * np.exp(-2 * x ** 2)
    c = bias_contrast(pool, tuned / tuned.sum(), KINDS)
    assert c["exact"] and c["contrast"]["ci"] is None and "(exact)" in c["verdict"]


def test_same_seed_same_interval():
    pool = _pool(1000)
    t = _tilt(pool, "look", 1.0)
    a = bias_contrast(pool, t, KINDS, n_boot=40, seed=3)
    b = bias_contrast(pool, t, KINDS, n_boot=40, seed=3)
    assert a == b


def test_lab_summary_labels_axes_and_states_the_contrast():
    from rewardshift.lab.run import LabConfig, run_lab

    s = run_lab(LabConfig(n_pool=20_000, rm_pairs=500, contrast_boot=20)).summary
    kinds = {r["axis"]: r["kind"] for r in s["bias_shift"]}
    assert kinds["symmetry"] == "perceptual" and kinds["fragment_count"] == "physical"
    c = s["bias_contrast"]
    assert set(c["perceptual"]["axes"]) == {a for a, k in kinds.items() if k == "perceptual"}
    assert c["contrast"]["ci"] is not None and isinstance(c["verdict"], str)
