"""Pixel measures validated against the renderer's latents (Spearman rho in every message).

Thresholds sit below the values measured on these 1,500 renders at 32 px (seed 11), with room
for seed noise (the sd of rho at n = 1,500 is about 0.02): fragment_count 0.55, contrast 0.85,
clarity 0.62 (against contrast / (contrast + clutter)), progress 0.45, size_slope 0.32;
symmetry 0.78 and centredness 0.72 against the same quantity computed on the exact 128-px
pane coverage (no texture, no quantisation). The analytic asymmetry is crude (rho ~ 0
over all frames: the off-centre impact and the drop swamp it); it is checked on onset frames
here, and the CNN regressor carries the axis (tests/images/test_cnn.py).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from rewardshift._exceptions import InputError
from rewardshift.images import AXES, measure_images, render, sample_scenes
from rewardshift.images.render import coverage


@pytest.fixture(scope="module")
def world():
    s = sample_scenes(1500, seed=11)
    return s, measure_images(render(s))


def _rho(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return stats.spearmanr(a[ok], b[ok])[0]


def test_keys_shapes_and_ranges(world):
    s, m = world
    assert set(m) == set(AXES)
    assert {k for k, (kind, _) in AXES.items() if kind == "physical"} == {
        "fragment_count", "size_slope", "asymmetry", "progress"}
    for k, v in m.items():
        assert v.shape == (s.n,) and v.dtype == np.float64, k
        if k != "size_slope":
            assert np.isfinite(v).all(), k
    for k in ("symmetry", "clarity", "asymmetry"):
        assert m[k].min() >= 0 and m[k].max() <= 1, k
    assert np.isfinite(m["size_slope"]).mean() > 0.95


@pytest.mark.parametrize("axis,latent,floor", [
    ("fragment_count", "fragment_count", 0.5), ("size_slope", "size_exponent", 0.2),
    ("progress", "progress", 0.3), ("contrast", "contrast", 0.8)])
def test_measure_follows_its_latent(world, axis, latent, floor):
    s, m = world
    rho = _rho(m[axis], s.as_dict()[latent])
    assert rho > floor, f"Spearman rho({axis}, {latent}) = {rho:.3f}, want > {floor}"


def test_clarity_follows_contrast_over_clutter(world):
    s, m = world
    rho = _rho(m["clarity"], s.contrast / (s.contrast + s.clutter))
    assert rho > 0.5, f"Spearman rho(clarity, contrast/(contrast+clutter)) = {rho:.3f}"


def test_symmetry_and_centredness_match_the_exact_coverage(world):
    s, m = world
    sub = s.take(slice(0, 600))
    cov = coverage(sub, size=128).astype(np.float64)
    g = (np.arange(128) + 0.5) / 64 - 1
    tot = cov.sum(axis=(1, 2))
    cx = (cov * g[None, None, :]).sum(axis=(1, 2)) / tot
    cy = (cov * g[None, :, None]).sum(axis=(1, 2)) / tot
    z = cov - cov.mean(axis=(1, 2), keepdims=True)
    sym = np.maximum((z * z[:, :, ::-1]).sum(axis=(1, 2)),
                     (z * z[:, ::-1]).sum(axis=(1, 2))) / (z * z).sum(axis=(1, 2))
    r_sym = _rho(m["symmetry"][:600], sym)
    r_cen = _rho(m["centredness"][:600], 1 - np.hypot(cx, cy) / math.sqrt(2))
    assert r_sym > 0.7, f"Spearman rho(symmetry, exact coverage symmetry) = {r_sym:.3f}"
    assert r_cen > 0.6, f"Spearman rho(centredness, exact coverage centroid) = {r_cen:.3f}"


def test_asymmetry_sees_a_skewed_crack_star_at_onset():
    s = sample_scenes(300, seed=3)
    fixed = {"impact_r": np.full(s.n, 0.05), "progress": np.zeros(s.n),
             "clutter": np.zeros(s.n)}
    even = measure_images(render(dataclasses.replace(s, asymmetry=np.zeros(s.n), **fixed)))
    skew = measure_images(render(dataclasses.replace(s, asymmetry=np.full(s.n, 0.9), **fixed)))
    lo, hi = even["asymmetry"].mean(), skew["asymmetry"].mean()
    assert hi > lo + 0.05, f"mean asymmetry: even star {lo:.3f}, skewed star {hi:.3f}"


def test_vectorised_equals_one_by_one():
    im = render(sample_scenes(6, seed=2))
    whole = measure_images(im)
    for i in range(6):
        one = measure_images(im[i:i + 1])
        for k in whole:
            np.testing.assert_allclose(one[k], whole[k][i:i + 1], err_msg=k)


def test_bad_images_are_refused():
    with pytest.raises(InputError, match="uint8"):
        measure_images(np.zeros((2, 32, 32, 3), dtype=np.float32))
    with pytest.raises(InputError, match="shape"):
        measure_images(np.zeros((32, 32, 3), dtype=np.uint8))
