"""Worlds: the shatter fracture model, the personas support, the registry."""

from __future__ import annotations

import dataclasses
import io
import math
import sys
import types

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from rewardshift._exceptions import InputError
from rewardshift.lab.world import WorldSample
from rewardshift.lab.worlds import get_world
from rewardshift.lab.worlds.personas import NATIONALITIES, PersonasConfig, PersonasWorld
from rewardshift.lab.worlds.shatter import (
    MATERIALS,
    ShatterConfig,
    ShatterWorld,
    rows_of,
)
from rewardshift.report.shatter_figures import render_grid

UNIT_AXES = ("asymmetry", "in_flight", "symmetry", "clarity", "iconic_moment")


@pytest.fixture(scope="module")
def shatter_sample() -> WorldSample:
    return ShatterWorld().sample(50_000, seed=0)


def test_shatter_sampling_is_seeded():
    w = ShatterWorld()
    a, b, c = w.sample(500, seed=1), w.sample(500, seed=1), w.sample(500, seed=2)
    for k in a.features:
        np.testing.assert_array_equal(a.features[k], b.features[k])
    np.testing.assert_array_equal(a.log_base, b.log_base)
    assert not np.array_equal(a.features["energy"], c.features["energy"])


def test_shatter_features_in_range(shatter_sample):
    f = shatter_sample.features
    for k in UNIT_AXES:
        assert f[k].min() >= 0 and f[k].max() <= 1, k
    for k in ("fragment_count", "radial_cracks"):
        assert (f[k] >= 0).all() and (f[k] == np.round(f[k])).all(), k
    assert f["angle"].min() >= 0 and f["angle"].max() <= ShatterConfig().angle_max_deg
    assert 1.3 < f["size_exponent"].min() and f["size_exponent"].max() < 2.6
    assert (f["energy"] > 0).all() and (f["time"] > 0).all()
    assert np.isfinite(shatter_sample.log_base).all()
    # default base policy is the truth
    np.testing.assert_allclose(shatter_sample.log_base, shatter_sample.log_truth)
    # most frames are transitional: fragments in flight dominate
    broken = f["fragment_count"] > 0
    assert np.mean((f["in_flight"][broken] > 0.1) & (f["in_flight"][broken] < 0.9)) > 0.8


def test_fragment_count_zero_below_threshold_and_increasing_in_energy():
    w = ShatterWorld()
    for code, mat in enumerate(MATERIALS):
        energy = np.geomspace(0.01, 100.0, 400)
        n = len(energy)
        f = w.observe(energy, np.full(n, 30.0), np.full(n, code), np.full(n, 100.0),
                      np.zeros(n), np.zeros(n))
        below = energy <= mat.threshold_j
        assert (f["fragment_count"][below] == 0).all()
        assert (f["radial_cracks"][below] == 0).all()
        above = f["fragment_count"][~below]
        assert (above >= 2).all() and (np.diff(above) >= 0).all()
        assert above[-1] > 10 * above[0]
        assert (np.diff(f["radial_cracks"][~below]) >= 0).all()


def test_asymmetry_increases_with_angle(shatter_sample):
    w = ShatterWorld()
    angle = np.linspace(0, 80, 50)
    n = len(angle)
    f = w.observe(np.full(n, 5.0), angle, np.zeros(n, int), np.full(n, 100.0), np.zeros(n),
                  np.zeros(n))
    assert (np.diff(f["asymmetry"]) > 0).all()
    s = shatter_sample.features
    assert stats.spearmanr(s["angle"], s["asymmetry"]).statistic > 0.9


def test_impact_angle_follows_sin_2theta(shatter_sample):
    tmax = math.radians(ShatterConfig().angle_max_deg)

    def cdf(deg):
        return (1 - np.cos(2 * np.radians(deg))) / (1 - math.cos(2 * tmax))

    assert stats.kstest(shatter_sample.features["angle"], cdf).pvalue > 1e-3


def test_fitted_base_density_is_consistent_with_truth():
    # E_base[p_true / p_base] = 1 when both densities are right (importance weights)
    w = ShatterWorld(ShatterConfig(base_dispersion=1.3, base_angle_mix=0.3))
    ws = w.sample(200_000, seed=3)
    ratio = np.exp(ws.log_truth - ws.log_base)
    assert abs(ratio.mean() - 1) < 0.03
    assert ws.features["energy"].std() > ShatterWorld().sample(200_000, seed=3) \
        .features["energy"].std()


def test_gold_penalises_iconic_symmetric_frames(shatter_sample):
    f, gold = shatter_sample.features, ShatterWorld().gold(shatter_sample.features)
    for k in ("symmetry", "iconic_moment"):
        top = f[k] >= np.quantile(f[k], 0.95)
        assert gold[top].mean() < gold[~top].mean() - 0.5, k


def test_render_grid_draws_both_blocks(shatter_sample):
    fig = render_grid(rows_of(shatter_sample, range(3)), rows_of(shatter_sample, range(3, 6)),
                      titles=("base", "tuned"), ncols=3, suptitle="test")
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="at least one row"):
        render_grid([], rows_of(shatter_sample, [0]))


def test_world_sample_helpers(shatter_sample):
    sub = shatter_sample.take(np.arange(5))
    assert len(sub) == 5 and not sub.enumerated
    assert sub.describe(0).startswith("material=")
    assert "fragment_count=" in sub.describe(0)
    frame = sub.to_frame()
    assert list(frame["material"]) == [sub.row(i)["material"] for i in range(5)]
    with pytest.raises(InputError, match="1-D"):
        WorldSample(world="x", features={"a": np.zeros(3)}, log_base=np.zeros(4))


def test_personas_enumerate_sums_to_one():
    ws = PersonasWorld().enumerate()
    assert 1_000 < len(ws) <= 200_000 and ws.enumerated
    assert ws.base_prob.sum() == pytest.approx(1.0)
    assert np.exp(ws.log_truth).sum() == pytest.approx(1.0)
    assert np.isfinite(ws.log_base).all()
    codes = np.column_stack([ws.features[k] for k in ("nationality", "age", "occupation",
                                                       "income", "tone")])
    assert len(np.unique(codes, axis=0)) == len(ws)
    # population shares are the truth's nationality marginal
    nat = np.bincount(ws.features["nationality"], weights=ws.base_prob)
    pop = np.array([p for _, p in NATIONALITIES])
    np.testing.assert_allclose(nat, pop / pop.sum())


def test_personas_base_temperature_and_sampling():
    hot = PersonasWorld(PersonasConfig(base_temperature=2.0)).enumerate()
    true = PersonasWorld().enumerate()
    assert hot.base_prob.sum() == pytest.approx(1.0)

    def entropy(p):
        return -np.sum(p * np.log(p))

    assert entropy(hot.base_prob) > entropy(true.base_prob)
    s = PersonasWorld().sample(100_000, seed=0)
    freq = np.bincount(s.features["nationality"], minlength=len(NATIONALITIES)) / len(s)
    truth = np.bincount(true.features["nationality"], weights=true.base_prob)
    assert np.abs(freq - truth).max() < 0.01
    # student is young, retired is old (the documented dependency)
    age = s.to_frame().groupby("occupation")["age"].agg(lambda a: (a == "65+").mean())
    assert age["retired"] > 0.4 and age["student"] < 0.05


def test_registry():
    assert isinstance(get_world("shatter"), ShatterWorld)
    assert get_world("personas", base_temperature=1.5).config.base_temperature == 1.5
    with pytest.raises(InputError, match="unknown world"):
        get_world("fluids")
    with pytest.raises(InputError, match="no config field"):
        get_world("shatter", temperature=2.0)
    with pytest.raises(InputError, match="base_dispersion"):
        get_world("shatter", base_dispersion=0.0)


def _pool_module(monkeypatch):
    """The real ``rewardshift.lab.pool``, or a tiny stand-in with its interface until it lands."""
    try:
        import rewardshift.lab.pool as pool
        return pool
    except ImportError:
        pass

    @dataclasses.dataclass
    class WeightedPool:  # stand-in: the constructors World.to_pool calls
        base_weights: np.ndarray
        sampled: bool
        features: dict
        log_base: np.ndarray | None = None

        @classmethod
        def from_probabilities(cls, p, *, features, log_base=None):
            return cls(np.asarray(p) / np.sum(p), False, dict(features), log_base)

        @classmethod
        def from_samples(cls, n, *, features, log_base=None):
            return cls(np.full(n, 1.0 / n), True, dict(features), log_base)

    module = types.ModuleType("rewardshift.lab.pool")
    module.WeightedPool = WeightedPool
    monkeypatch.setitem(sys.modules, "rewardshift.lab.pool", module)
    return module


def test_to_pool(monkeypatch):
    _pool_module(monkeypatch)
    w = get_world("personas")
    support = w.enumerate()
    pool = w.to_pool(support)
    assert not pool.sampled
    np.testing.assert_allclose(pool.base_weights, support.base_prob)
    np.testing.assert_array_equal(pool.log_base, support.log_base)
    s = get_world("shatter")
    ws = s.sample(100, seed=0)
    spool = s.to_pool(ws)
    assert spool.sampled
    np.testing.assert_allclose(spool.base_weights, np.full(100, 0.01))
    np.testing.assert_array_equal(spool.features["symmetry"], ws.features["symmetry"])
