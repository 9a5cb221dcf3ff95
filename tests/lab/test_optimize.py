"""Optimisers on the weighted pool against closed forms (DESIGN.md, "The science")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from rewardshift._exceptions import InputError
from rewardshift.lab import optimize as opt
from rewardshift.lab.pool import WeightedPool


def gaussian_grid(n=4001, mu=0.0, sigma=1.0, half_width=12.0):
    """A discretised Gaussian: step h = 2·12σ/(n−1) ≪ σ, so its mean and variance equal
    (μ, σ²) up to terms of order exp(−2π²σ²/h²) (Poisson summation)."""
    x = np.linspace(mu - half_width * sigma, mu + half_width * sigma, n)
    p = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
    return x, p / p.sum()


def moments(x, w):
    m = float(x @ w)
    return m, float(((x - m) ** 2) @ w)


# ------------------------------------------------------------------ typicality (Zhang et al.)


@pytest.mark.parametrize("alpha,beta", [(0.6, 1.0), (0.57, 0.2), (0.65, 5.0)])
def test_typicality_sharpening_gaussian_grid(alpha, beta):
    x, p = gaussian_grid(sigma=1.7)
    pi = opt.tilt(p, alpha * np.log(p), beta=beta)
    _, var = moments(x, pi)
    assert var == pytest.approx(1.7 ** 2 * beta / (beta + alpha), rel=1e-6)


def test_typicality_sharpening_sampled_pool_with_log_base():
    rng = np.random.default_rng(0)
    sigma, alpha, beta = 2.0, 0.6, 1.0
    x = rng.normal(0.0, sigma, 1_000_000)
    pool = WeightedPool.from_samples(len(x), features={"x": x},
                                     log_base=stats.norm.logpdf(x, scale=sigma))
    pi = opt.tilt(pool, alpha * pool.log_base, beta=beta, min_ess=1000)
    assert pool.var("x", pi) == pytest.approx(sigma ** 2 * beta / (beta + alpha), rel=0.01)


def test_typicality_on_finite_support_is_a_power_of_the_base():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.full(50, 0.3))
    p = np.clip(p, 1e-300, None)
    p /= p.sum()
    r_true = rng.normal(size=50)
    alpha, beta = 0.6, 0.7
    pi = opt.tilt(p, r_true + alpha * np.log(p), beta=beta)
    expect = p ** (1 + alpha / beta) * np.exp(r_true / beta)
    np.testing.assert_allclose(pi, expect / expect.sum(), rtol=1e-12, atol=1e-300)


# ------------------------------------------------------------------ Gaussian tilt


def test_gaussian_tilt_quadratic_linear_and_untouched_axes():
    # an enumerated product grid 101^3 of independent discretised Gaussians
    gx, px = gaussian_grid(101, mu=0.3, sigma=1.0, half_width=7.0)
    gy, py = gaussian_grid(101, mu=-0.5, sigma=1.5, half_width=7.0)
    gz, pz = gaussian_grid(101, mu=2.0, sigma=0.7, half_width=7.0)
    X, Y, Z = (a.ravel() for a in np.meshgrid(gx, gy, gz, indexing="ij"))
    p = np.einsum("i,j,k->ijk", px, py, pz).ravel()
    pool = WeightedPool.from_probabilities(p / p.sum(), features={"x": X, "y": Y, "z": Z})
    k, x0, w, beta = 0.8, 2.5, 0.9, 1.3
    pi = opt.tilt(pool, -k * (X - x0) ** 2 + w * Y, beta=beta)
    prec = 1 / 1.0 ** 2 + 2 * k / beta
    assert pool.var("x", pi) == pytest.approx(1 / prec, rel=1e-6)
    assert pool.mean("x", pi) == pytest.approx((0.3 / 1.0 + 2 * k * x0 / beta) / prec, rel=1e-6)
    assert pool.var("y", pi) == pytest.approx(1.5 ** 2, rel=1e-6)
    assert pool.mean("y", pi) - pool.mean("y") == pytest.approx(1.5 ** 2 * w / beta, rel=1e-6)
    assert pool.mean("z", pi) == pytest.approx(pool.mean("z"), rel=1e-9)
    assert pool.var("z", pi) == pytest.approx(pool.var("z"), rel=1e-9)


# ------------------------------------------------------------------ tilt sweep: KL, ESS, refusal


def test_tilt_sweep_matches_direct_computation():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(300))
    r, g = rng.normal(size=300), rng.normal(size=300)
    betas = [0.05, 0.3, 1.0, 10.0, np.inf]
    sw = opt.tilt_sweep(p, r, betas, functions={"gold": g}, sampled=False)
    for i, b in enumerate(betas):
        pi = opt.tilt(p, r, beta=b)
        assert sw.kl[i] == pytest.approx(np.sum(pi * np.log(pi / p)), abs=1e-12)
        assert sw.ess[i] == pytest.approx(1 / np.sum(pi ** 2), rel=1e-10)
        assert sw.expectations["gold"][i] == pytest.approx(g @ pi, abs=1e-12)
        assert sw.reward_mean[i] == pytest.approx(r @ pi, abs=1e-12)
    assert sw.kl[-1] == 0.0 and not sw.low_ess.any()
    assert np.all(np.diff(sw.kl[:-1]) < 0)  # KL falls as beta grows


def test_sampled_kl_is_the_self_normalised_estimate():
    rng = np.random.default_rng(3)
    r = rng.normal(size=5000)
    pool = WeightedPool.from_samples(5000)
    sw = opt.tilt_sweep(pool, r, [0.5, 2.0])
    for i, b in enumerate([0.5, 2.0]):
        pi = opt.tilt(pool, r, beta=b)
        assert sw.kl[i] == pytest.approx(np.sum(pi * np.log(5000 * pi)), rel=1e-10)
        # and it estimates the Gaussian closed form KL = 1/(2 b^2) for r ~ N(0, 1)
        assert sw.kl[i] == pytest.approx(1 / (2 * b * b), rel=0.15)


def test_low_ess_refusal_on_sampled_pool():
    rng = np.random.default_rng(4)
    pool = WeightedPool.from_samples(2000)
    r = rng.normal(size=2000)
    with pytest.raises(InputError, match="too few effective samples.*larger pool or a larger"):
        opt.tilt_sweep(pool, r, [10.0, 0.01], min_ess=100)
    sw = opt.tilt_sweep(pool, r, [10.0, 0.01], min_ess=100, allow_low_ess=True)
    assert list(sw.low_ess) == [False, True] and sw.ess[1] < 100
    with pytest.raises(InputError, match="ESS="):
        opt.tilt(pool, r, beta=0.01, min_ess=100)
    # an enumerated support is exact: no refusal
    enum = WeightedPool.from_probabilities(np.full(2000, 1 / 2000))
    assert not opt.tilt_sweep(enum, r, [0.01], min_ess=100).low_ess.any()
    # a bare vector of equal weights is treated as sampled (conservative)
    with pytest.raises(InputError):
        opt.tilt_sweep(np.full(2000, 1 / 2000), r, [0.01])


@pytest.mark.parametrize("kwargs,match", [
    (dict(beta=0.0), "beta=0.0 must be > 0"),
    (dict(beta=-1.0), "must be > 0"),
    (dict(beta=float("nan")), "must be > 0"),
])
def test_tilt_rejects_bad_beta(kwargs, match):
    with pytest.raises(InputError, match=match):
        opt.tilt([0.5, 0.5], [0.0, 1.0], **kwargs)


def test_tilt_rejects_mismatched_reward_and_bad_weights():
    with pytest.raises(InputError, match=r"reward has shape \(3,\); expected \(2,\)"):
        opt.tilt([0.5, 0.5], [0.0, 1.0, 2.0], beta=1.0)
    with pytest.raises(InputError, match="sums to"):
        opt.tilt([0.5, 0.6], [0.0, 1.0], beta=1.0)


# ------------------------------------------------------------------ best-of-n, exact


def brute_force_bon(p, proxy, n):
    """Enumerate all n-tuples; ties at the maximum split uniformly."""
    out = np.zeros(len(p))
    for tup in itertools.product(range(len(p)), repeat=n):
        prob = np.prod(p[list(tup)])
        best = max(proxy[i] for i in tup)
        winners = [i for i in tup if proxy[i] == best]
        for i in winners:
            out[i] += prob / len(winners)
    return out


def test_best_of_n_exact_matches_enumeration_with_ties():
    p = np.array([0.1, 0.25, 0.2, 0.15, 0.3])
    proxy = np.array([0.0, 1.0, 1.0, 2.0, 0.5])
    for n in (1, 2, 3, 4):
        np.testing.assert_allclose(opt.best_of_n_exact(p, proxy, n),
                                   brute_force_bon(p, proxy, n), atol=1e-14)


def test_exact_kl_equals_the_bound_on_a_continuous_like_support():
    rng = np.random.default_rng(5)
    n_out = 200_000
    proxy = rng.normal(size=n_out)
    ns = np.array([1, 2, 10, 100, 1000])
    sw = opt.best_of_n_exact_sweep(np.full(n_out, 1 / n_out), proxy, ns)
    assert sw.kl[0] == 0.0
    np.testing.assert_allclose(sw.kl[1:], opt.bon_kl_bound(ns[1:]), rtol=0.01)


def test_exact_kl_is_below_the_bound_on_a_coarse_support():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    proxy = np.array([0.0, 1.0, 2.0, 2.0])
    ns = np.arange(2, 50)
    sw = opt.best_of_n_exact_sweep(p, proxy, ns, functions={"proxy": proxy})
    assert np.all(sw.kl < sw.kl_bound)
    for j, n in enumerate(ns[:5]):
        pn = opt.best_of_n_exact(p, proxy, n)
        assert sw.kl[j] == pytest.approx(np.sum(pn * np.log(pn / p)), abs=1e-13)
        assert sw.expectations["proxy"][j] == pytest.approx(pn @ proxy, abs=1e-13)
    # the limit: all mass on the top block, KL -> log(1/0.3)
    assert sw.kl[-1] == pytest.approx(np.log(1 / 0.3), rel=1e-6)


# ------------------------------------------------------------------ best-of-n, unbiased estimator


def test_best_of_n_weights_sum_to_one_and_limits():
    rng = np.random.default_rng(6)
    proxy = rng.normal(size=1000)
    for n in (1, 2, 7, 500, 1000):
        w = opt.best_of_n_weights(proxy, n)
        assert w.sum() == pytest.approx(1.0, abs=1e-12) and np.all(w >= 0)
    np.testing.assert_allclose(opt.best_of_n_weights(proxy, 1), 1 / 1000)
    assert opt.best_of_n_weights(proxy, 1000)[np.argmax(proxy)] == pytest.approx(1.0)
    with pytest.raises(InputError, match="exceeds the pool size N=1000"):
        opt.best_of_n_weights(proxy, 1001)


def test_best_of_n_weights_split_ties_evenly():
    w = opt.best_of_n_weights([0.0, 1.0, 1.0, 0.5], 2)
    # subsets of 2 of 4: max is one of the tied pair in 5 of 6 subsets, shared evenly
    np.testing.assert_allclose(w, [0.0, 5 / 12, 5 / 12, 1 / 6], atol=1e-14)


def test_unbiased_estimator_matches_brute_force_monte_carlo():
    rng = np.random.default_rng(7)
    big_n = 400
    proxy = rng.normal(size=big_n)
    gold = 0.6 * proxy + rng.standard_t(3, size=big_n)
    for n in (3, 40):
        est = opt.best_of_n_weights(proxy, n) @ gold
        reps = 20_000
        keys = rng.random((reps, big_n))
        subsets = np.argpartition(keys, n, axis=1)[:, :n]  # n distinct indices per row
        picks = subsets[np.arange(reps), np.argmax(proxy[subsets], axis=1)]
        mc = gold[picks]
        assert abs(mc.mean() - est) < 3 * mc.std(ddof=1) / np.sqrt(reps)


def test_sweep_equals_full_weights_despite_skipping_the_tail():
    rng = np.random.default_rng(8)
    proxy = rng.normal(size=100_000)
    gold = rng.normal(size=100_000) + proxy
    ns = np.array([1, 5, 100, 3000, 100_000])
    sw = opt.best_of_n_sweep(proxy, ns, functions={"gold": gold})
    for j, n in enumerate(ns):
        w = opt.best_of_n_weights(proxy, int(n))
        # equal up to the rounding of log N! (about 1e-16 * 1e6 relative)
        assert sw.expectations["gold"][j] == pytest.approx(w @ gold, abs=1e-9)
        assert sw.ess[j] == pytest.approx(1 / np.sum(w ** 2), rel=1e-8)
    np.testing.assert_allclose(sw.kl, opt.bon_kl_bound(ns))  # tie-free proxy


def test_sampled_sweep_with_ties_has_exact_empirical_kl():
    proxy = np.repeat(np.arange(10.0), 100)  # 10 tie blocks of 100
    sw = opt.best_of_n_sweep(proxy, [1, 4, 50], functions={"p": proxy})
    enum = opt.best_of_n_exact_sweep(np.full(1000, 1e-3), proxy, [1, 4, 50])
    np.testing.assert_allclose(sw.kl, enum.kl, atol=1e-12)
    assert np.all(sw.kl[1:] < sw.kl_bound[1:])


def test_bon_kl_bound_and_grid():
    assert opt.bon_kl_bound(1) == 0.0
    assert opt.bon_kl_bound(4) == pytest.approx(np.log(4) - 0.75)
    grid = opt.bon_grid(10_000)
    assert grid[0] == 1 and grid[-1] == 10_000 and np.all(np.diff(grid) > 0)
    assert set(range(1, 22)) <= set(grid.tolist())


# ------------------------------------------------------------------ Goodhart (Gao et al. 2022)


@pytest.fixture(scope="module")
def goodhart_pool():
    rng = np.random.default_rng(9)
    big_n = 400_000
    gold = rng.normal(size=big_n)
    gauss_proxy = 0.7 * gold + np.sqrt(1 - 0.49) * rng.normal(size=big_n)  # corr 0.7
    heavy_proxy = gold + rng.standard_t(2, size=big_n)
    return gold, gauss_proxy, heavy_proxy


def test_gaussian_proxy_best_of_n_gold_never_turns_down(goodhart_pool):
    gold, proxy, _ = goodhart_pool
    ns = opt.bon_grid(4000, points=60)
    sw = opt.best_of_n_sweep(proxy, ns, functions={"gold": gold, "proxy": proxy})
    g, pr = sw.expectations["gold"], sw.expectations["proxy"]
    assert np.all(np.diff(pr) > 0)
    # E[gold | proxy] = 0.7 proxy: gold tracks 0.7 x proxy up to the estimator's noise
    noise = 3 * np.sqrt(0.51 / sw.ess)
    assert np.all(np.abs(g - 0.49 / 0.7 * pr) < noise + 1e-3)
    assert np.all(np.diff(g) > -0.02) and g[-1] >= g.max() - 0.02


def test_heavy_tailed_proxy_error_makes_gold_rise_then_fall(goodhart_pool):
    gold, _, proxy = goodhart_pool
    ns = opt.bon_grid(4000, points=60)
    sw = opt.best_of_n_sweep(proxy, ns, functions={"gold": gold, "proxy": proxy})
    g = sw.expectations["gold"]
    peak = int(np.argmax(g))
    assert 0 < peak < len(ns) - 1
    assert g[peak] > g[0] + 0.3 and g[-1] < g[peak] - 0.2
    assert np.all(np.diff(sw.expectations["proxy"]) > 0)  # the proxy keeps rising
