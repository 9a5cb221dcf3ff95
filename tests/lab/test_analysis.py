"""Analyses: Gao et al. fits, the bias-shift decomposition, edge cases; plus the pool."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.lab import analysis as an
from rewardshift.lab import optimize as opt
from rewardshift.lab.pool import (
    WeightedPool,
    weighted_mean,
    weighted_quantile,
    weighted_var,
)

# ------------------------------------------------------------------ Gao et al. 2022 fits


@pytest.mark.parametrize("fit,model,a,b", [
    (an.fit_bon, lambda d, a, b: d * (a - b * d), 1.3, 0.2),
    (an.fit_rl, lambda d, a, b: d * (a - b * np.log(d)), 0.9, 0.35),
])
def test_fits_recover_noiseless_curves_exactly(fit, model, a, b):
    d = np.linspace(0.05, 6.0, 30)
    f = fit(d, model(d, a, b))
    assert f.alpha == pytest.approx(a, abs=1e-10) and f.beta == pytest.approx(b, abs=1e-10)
    np.testing.assert_allclose(f.predict(d), model(d, a, b), atol=1e-10)
    # the peak formulas agree with a numeric maximum of the curve
    grid = np.linspace(1e-4, 40, 400_001)
    i = int(np.argmax(model(grid, a, b)))
    assert f.d_star == pytest.approx(grid[i], abs=2e-4)
    assert f.r_star == pytest.approx(model(grid, a, b)[i], rel=1e-7)


def test_peak_closed_forms():
    d = np.linspace(0.1, 5, 20)
    f = an.fit_bon(d, d * (2.0 - 0.5 * d))
    assert (f.d_star, f.r_star) == pytest.approx((2.0 / (2 * 0.5), 2.0 ** 2 / (4 * 0.5)))
    g = an.fit_rl(d, d * (1.0 - 0.4 * np.log(d)))
    assert g.d_star == pytest.approx(math.exp(1.0 / 0.4 - 1))
    assert g.r_star == pytest.approx(0.4 * g.d_star)


def test_no_turnover_gives_infinite_peak_and_json_none():
    d = np.linspace(0.1, 3, 10)
    f = an.fit_bon(d, 0.5 * d + 0.1 * d * d)  # beta = -0.1 < 0
    assert f.beta < 0 and math.isinf(f.d_star)
    out = f.to_dict()
    assert out["d_star"] is None
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("fit,model", [
    (an.fit_bon, lambda d: d * (1.0 - 0.25 * d)),
    (an.fit_rl, lambda d: d * (1.0 - 0.4 * np.log(d))),
])
def test_fit_confidence_intervals_cover_the_truth(fit, model):
    rng = np.random.default_rng(0)
    d = np.linspace(0.1, 4.0, 25)
    truth = fit(d, model(d))
    hits = np.zeros(4)
    reps = 300
    for _ in range(reps):
        f = fit(d, model(d) + rng.normal(0, 0.05, size=len(d)))
        hits += [f.alpha_ci[0] <= truth.alpha <= f.alpha_ci[1],
                 f.beta_ci[0] <= truth.beta <= f.beta_ci[1],
                 f.d_star_ci[0] <= truth.d_star <= f.d_star_ci[1],
                 f.r_star_ci[0] <= truth.r_star <= f.r_star_ci[1]]
    cover = hits / reps
    assert np.all(cover[:2] > 0.91) and np.all(cover[:2] < 0.99)  # exact t-intervals
    assert np.all(cover[2:] > 0.85)  # delta method: approximate


def test_bootstrap_intervals_are_seeded_and_cover():
    rng = np.random.default_rng(1)
    d = np.linspace(0.1, 4.0, 40)
    y = d * (1.0 - 0.25 * d)
    hits = 0
    for _ in range(60):
        f = an.fit_bon(d, y + rng.normal(0, 0.05, size=len(d)), ci="bootstrap", n_boot=400,
                       seed=3)
        hits += f.alpha_ci[0] <= 1.0 <= f.alpha_ci[1] and f.beta_ci[0] <= 0.25 <= f.beta_ci[1]
    assert hits / 60 > 0.8
    a = an.fit_bon(d, y + 0.01 * np.sin(7 * d), ci="bootstrap", seed=5)
    b = an.fit_bon(d, y + 0.01 * np.sin(7 * d), ci="bootstrap", seed=5)
    assert a.alpha_ci == b.alpha_ci and a.d_star_ci == b.d_star_ci


def test_fit_rejects_bad_input():
    with pytest.raises(MetricUndefinedError, match="at least 3"):
        an.fit_bon([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(InputError, match="negative"):
        an.fit_rl([-0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="same length"):
        an.fit_rl([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(InputError, match="ci='x'"):
        an.fit_bon([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], ci="x")


# ------------------------------------------------------------------ bias shift


def grid_pool():
    """Enumerated 2-D grid: x ~ N(0.2, 1) (perceptual), y ~ N(1, 2^2) (physical)."""
    gx = np.linspace(-8, 8, 321)
    gy = np.linspace(1 - 16, 1 + 16, 321)
    px = stats.norm.pdf(gx, 0.2, 1.0)
    py = stats.norm.pdf(gy, 1.0, 2.0)
    X, Y = (a.ravel() for a in np.meshgrid(gx, gy, indexing="ij"))
    p = np.outer(px / px.sum(), py / py.sum()).ravel()
    return WeightedPool.from_probabilities(p / p.sum(), features={"x": X, "y": Y})


def test_bias_shift_closed_forms_and_exact_identities():
    pool = grid_pool()
    X = pool.features["x"]
    k, x0, beta = 2.0, 1.5, 1.0
    tuned = opt.tilt(pool, -k * (X - x0) ** 2, beta=beta)
    truth = opt.tilt(pool, 0.3 * pool.features["y"], beta=1.0)  # truth differs from base in y
    recs = {r["axis"]: r for r in an.bias_shift(pool, tuned, ["x", "y"], truth_weights=truth,
                                                target={"x": x0})}
    rx, ry = recs["x"], recs["y"]
    assert rx["variance_ratio"] == pytest.approx(1 / (1 + 2 * k / beta), rel=1e-6)
    mu_t = (0.2 + 2 * k * x0 / beta) / (1 + 2 * k / beta)
    assert rx["tuned_mean"] == pytest.approx(mu_t, rel=1e-6)
    assert rx["toward_target"] == pytest.approx((mu_t - 0.2) / (x0 - 0.2), rel=1e-6)
    assert ry["variance_ratio"] == pytest.approx(1.0, rel=1e-9)  # the unrewarded axis
    assert ry["base_bias"] == pytest.approx(-0.3 * 4.0, rel=1e-6)  # truth mean moved σ²w/β
    for r in (rx, ry):
        assert r["error"] == pytest.approx(r["bias_sq"] + r["variance"], rel=1e-12)
        assert r["tuned_bias"] == pytest.approx(r["base_bias"] + r["reward_shift"], abs=1e-12)
        direct = float(((pool.features[r["axis"]] - r["truth_mean"]) ** 2) @ tuned)
        assert r["error"] == pytest.approx(direct, rel=1e-10)
    json.dumps(list(recs.values()), allow_nan=False)


def test_describe_bias_shift_phrases_the_change():
    recs = [{"axis": "symmetry", "variance_change": -0.8, "toward_target": 0.5,
             "target": 1.0},
            {"axis": "fragment_count", "variance_change": -0.03},
            {"axis": "size", "variance_change": 0.12}]
    text = an.describe_bias_shift(recs)
    assert text.startswith("variance fell 80% on symmetry and 3% on fragment count; "
                           "rose 12% on size.")
    assert "50% of the way to 1 on symmetry" in text


def test_bias_shift_rejects_unknown_axes_and_bad_weights():
    pool = grid_pool()
    with pytest.raises(InputError, match="no feature 'z'"):
        an.bias_shift(pool, pool.base_weights, ["z"])
    with pytest.raises(InputError, match="tuned_weights has 3 entries"):
        an.bias_shift(pool, [0.2, 0.3, 0.5], ["x"])


# ------------------------------------------------------------------ edge cases


def test_edge_cases_of_typicality_sharpening_match_closed_form():
    x = np.linspace(-10, 10, 200_001)
    p = stats.norm.pdf(x)
    p /= p.sum()
    pool = WeightedPool.from_probabilities(p, features={"x": x})
    a = 0.6  # alpha / beta
    tuned = opt.tilt(pool, a * np.log(p), beta=1.0)
    out = an.edge_cases(pool, tuned, quantile=0.05, keep_share=0.1)
    c = stats.norm.ppf(0.975)  # the 5% rarest: |x| > 1.96
    assert out["mass_base"] == pytest.approx(0.05, rel=1e-3)
    assert out["mass_tuned"] == pytest.approx(2 * stats.norm.cdf(-c * math.sqrt(1 + a)),
                                              rel=1e-2)
    # kept where the density ratio sqrt(1+a) exp(-a x^2/2) >= 0.1
    c2 = math.sqrt(2 * math.log(10 * math.sqrt(1 + a)) / a)
    recall_mass = 2 * (stats.norm.cdf(-c) - stats.norm.cdf(-c2)) / 0.05
    assert out["recall_mass"] == pytest.approx(recall_mass, rel=1e-2)
    json.dumps(out, allow_nan=False)


def test_edge_cases_on_sampled_pool_need_a_score_or_mask():
    rng = np.random.default_rng(2)
    x = rng.normal(size=10_000)
    pool = WeightedPool.from_samples(10_000, features={"x": x})
    with pytest.raises(InputError, match="pass score= .* or mask="):
        an.edge_cases(pool, pool.base_weights)
    tail = np.abs(x) > 2
    tuned = opt.tilt(pool, -x * x, beta=1.0)
    out = an.edge_cases(pool, tuned, mask=tail)
    assert out["n_tail"] == int(tail.sum())
    assert out["mass_tuned"] < out["mass_base"] and 0 <= out["recall"] <= 1
    logb = stats.norm.logpdf(x)
    pool2 = WeightedPool.from_samples(10_000, features={"x": x}, log_base=logb)
    out2 = an.edge_cases(pool2, tuned, quantile=0.05)
    assert out2["mass_base"] == pytest.approx(0.05, abs=1e-3)


# ------------------------------------------------------------------ the pool


def test_pool_validation_names_field_and_lengths():
    with pytest.raises(InputError, match="sums to"):
        WeightedPool.from_probabilities([0.5, 0.4])
    with pytest.raises(InputError, match=r"p\[1\]=-0.1 is negative"):
        WeightedPool.from_probabilities([1.1, -0.1])
    with pytest.raises(InputError, match="not finite"):
        WeightedPool.from_probabilities([np.nan, 1.0])
    with pytest.raises(InputError, match="feature 'x' has shape \\(3,\\) but base_weights has 2"):
        WeightedPool.from_probabilities([0.5, 0.5], features={"x": [1, 2, 3]})
    with pytest.raises(InputError, match="log_base has shape"):
        WeightedPool.from_samples(2, log_base=[0.0])
    with pytest.raises(InputError, match="positive integer"):
        WeightedPool.from_samples(0)


def test_weighted_helpers():
    v, w = np.array([3.0, 1.0, 2.0, 10.0]), np.array([0.1, 0.4, 0.3, 0.2])
    assert weighted_mean(v, w) == pytest.approx(v @ w)
    assert weighted_var(v, w) == pytest.approx(((v - v @ w) ** 2) @ w)
    assert weighted_quantile(v, 0.5, w) == 2.0
    assert weighted_quantile(v, 0.4, w) == 1.0
    rng = np.random.default_rng(3)
    u = rng.normal(size=101)
    for q in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert weighted_quantile(u, q, np.full(101, 1 / 101)) == np.quantile(
            u, q, method="inverted_cdf")
    pool = WeightedPool.from_probabilities(w, features={"v": v})
    assert pool.mean("v") == pytest.approx(v @ w) and pool.quantile("v", 0.5) == 2.0
    assert pool.sampled is False and WeightedPool.from_samples(4).sampled is True
