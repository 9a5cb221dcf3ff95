"""Breakage scenes and their renderer: determinism, shapes, the exact log-density."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from rewardshift._exceptions import InputError
from rewardshift.images import (
    LATENTS,
    STAGES,
    SceneConfig,
    process_stage,
    render,
    sample_scenes,
    scene_log_density,
)
from rewardshift.images.render import coverage


def test_same_seed_same_scenes_and_frames():
    a, b = sample_scenes(50, seed=7), sample_scenes(50, seed=7)
    for name in LATENTS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(render(a), render(b))
    assert not np.array_equal(sample_scenes(50, seed=8).energy, a.energy)
    gen = sample_scenes(50, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(gen.energy, a.energy)


@pytest.mark.parametrize("size", [32, 64])
def test_render_shape_dtype_and_chunking(size):
    s = sample_scenes(300, seed=0)
    im = render(s, size=size)
    assert im.shape == (300, size, size, 3) and im.dtype == np.uint8
    np.testing.assert_array_equal(render(s.take([5, 250]), size=size), im[[5, 250]])
    cov = coverage(s.take(slice(0, 20)), size=size)
    assert cov.shape == (20, size, size) and cov.min() >= 0 and cov.max() <= 1


def test_onset_pane_is_the_square_minus_cracks():
    s = sample_scenes(20, seed=1)
    s = dataclasses.replace(s, progress=np.zeros(s.n))
    frac = coverage(s, size=64).mean(axis=(1, 2))
    assert np.all((frac > 0.6 * 0.36) & (frac <= 0.36 + 1e-6)), frac  # pane: (2*0.6)^2 / 4


def test_scenes_take_as_dict_and_stages():
    s = sample_scenes(2000, seed=2)
    d = s.as_dict()
    assert set(LATENTS) <= d.keys() and d["fragment_count"].min() >= 3
    assert s.take(slice(3, 9)).n == 6
    stage = process_stage(s.progress)
    share = np.bincount(stage, minlength=len(STAGES)) / s.n
    assert share[1] > 0.5, f"most frames should be transitional, got stage shares {share}"
    assert (s.energy > 0.3).all() and (s.impact_r < SceneConfig().impact_max).all()


def test_config_checks_and_round_trip():
    with pytest.raises(InputError, match="impact_max"):
        SceneConfig(impact_max=0.0)
    with pytest.raises(InputError, match="progress_ab"):
        SceneConfig(progress_ab=(0.0, 1.0))
    c = SceneConfig(energy_log_sd=0.5)
    assert SceneConfig.from_dict(c.to_dict()) == c
    with pytest.raises(InputError):
        sample_scenes(0, seed=0)


def test_log_density_matches_scipy_term_by_term():
    c = SceneConfig()
    s = sample_scenes(500, seed=3, config=c)
    tn = stats.truncnorm
    log_e, theta = np.log(s.energy), np.radians(s.impact_angle)
    lo_e = (math.log(0.3) - math.log(c.energy_median_j)) / c.energy_log_sd
    mu_a = c.asymmetry_gain * np.sin(theta)
    mu_t = 1.5 + 0.1 * (log_e - math.log(0.3))
    tmax = math.radians(c.angle_max_deg)
    expected = (np.log(2 * s.impact_r / c.impact_max ** 2)
                + stats.uniform(-math.pi, 2 * math.pi).logpdf(s.impact_phi)
                + tn.logpdf(log_e, lo_e, np.inf, loc=math.log(c.energy_median_j),
                            scale=c.energy_log_sd)
                + np.log(2 * np.sin(2 * theta) / (1 - math.cos(2 * tmax)))
                + tn.logpdf(s.asymmetry, (0 - mu_a) / c.asymmetry_sd, (1 - mu_a) / c.asymmetry_sd,
                            loc=mu_a, scale=c.asymmetry_sd)
                + stats.uniform(-math.pi, 2 * math.pi).logpdf(s.skew_phi)
                + tn.logpdf(s.size_exponent, (1.2 - mu_t) / c.exponent_sd,
                            (2.0 - mu_t) / c.exponent_sd, loc=mu_t, scale=c.exponent_sd)
                + stats.beta(*c.progress_ab).logpdf(s.progress)
                + stats.beta(*c.light_ab).logpdf(s.light)
                + stats.beta(*c.contrast_ab).logpdf(s.contrast)
                + stats.beta(*c.clutter_ab).logpdf(s.clutter)
                + stats.uniform().logpdf(s.hue) + stats.uniform().logpdf(s.pattern))
    np.testing.assert_allclose(scene_log_density(s, c), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name,lo,hi", [("impact_r", 0.0, 0.75), ("asymmetry", 0.0, 1.0),
                                        ("impact_angle", 0.0, 80.0)])
def test_log_density_normalises_along_one_axis(name, lo, hi):
    """Varying one coordinate with the rest fixed, exp(density) integrates to the rest's mass."""
    base = sample_scenes(1, seed=4)
    grid = np.linspace(lo, hi, 20001)[1:-1]
    many = dataclasses.replace(base.take(np.zeros(len(grid), dtype=int)), **{name: grid})
    ld = scene_log_density(many)
    if name == "impact_angle":  # density is in radians; asymmetry's law depends on theta
        many = dataclasses.replace(many, asymmetry=np.full(len(grid), 0.5))
        ld = scene_log_density(many) - _asym_term(many)
        grid = np.radians(grid)
    rest = scene_log_density(base)[0] - _marginal(base, name)
    total = np.trapezoid(np.exp(ld - rest), grid)
    assert total == pytest.approx(1.0, abs=2e-3), f"{name}: integral {total}"


def _asym_term(s):
    mu = 0.9 * np.sin(np.radians(s.impact_angle))
    return stats.truncnorm.logpdf(s.asymmetry, -mu / 0.08, (1 - mu) / 0.08, loc=mu, scale=0.08)


def _marginal(s, name):
    if name == "impact_r":
        return math.log(2 * s.impact_r[0] / 0.75 ** 2)
    if name == "asymmetry":
        return float(_asym_term(s)[0])
    theta = math.radians(s.impact_angle[0])
    return math.log(2 * math.sin(2 * theta) / (1 - math.cos(2 * math.radians(80)))) + float(
        _asym_term(s)[0])


def test_sampler_follows_the_density():
    s = sample_scenes(4000, seed=5)
    assert stats.kstest(s.impact_r, lambda r: (r / 0.75) ** 2).pvalue > 1e-3
    tmax = math.radians(80)
    cdf = lambda t: (1 - np.cos(2 * np.radians(t))) / (1 - math.cos(2 * tmax))  # noqa: E731
    assert stats.kstest(s.impact_angle, cdf).pvalue > 1e-3
    assert stats.kstest(s.progress, stats.beta(2, 3).cdf).pvalue > 1e-3
