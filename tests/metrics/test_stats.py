"""rewardshift.metrics.stats against independent implementations and known properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import norm

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics import aggregate, counts, lexical
from rewardshift.metrics import stats as st

# ------------------------------------------------------------------ p-value text


@pytest.mark.parametrize(("p", "text", "cell"), [
    (0.0004, "p < 0.001", "< 0.001"), (0.001, "p = 0.001", "0.001"),
    (0.0042, "p = 0.004", "0.004"), (0.0312, "p = 0.031", "0.031"),
    (0.3141, "p = 0.31", "0.31"), (1.0, "p = 1", "1"), (np.float64(0.05), "p = 0.05", "0.05"),
])
def test_format_p_forms(p, text, cell):
    assert st.format_p(p) == text
    assert st.format_p(p, prefix=False) == cell


@pytest.mark.parametrize("p", [None, math.nan, math.inf, "0.1", True])
def test_format_p_missing(p):
    assert st.format_p(p) == "no p-value"
    assert st.format_p(p, prefix=False, missing="—") == "—"


# ------------------------------------------------------------------ permutation tests


def test_permutation_p_of_identical_samples_is_large_and_of_shifted_small():
    rng = np.random.default_rng(0)
    a = rng.normal(size=40)
    assert st.permutation_test_values(a, a.copy(), n_resamples=999) > 0.9
    assert st.permutation_test_values(a, a + 1.0, n_resamples=999) < 0.01
    assert st.permutation_test_values(a, a + rng.normal(0, 1e-3, 40) + 0.01, paired=True,
                                      n_resamples=999) < 0.01

    def diff(x, y):
        return {"m": abs(y.mean() - x.mean())}

    same = st.permutation_test(diff, a, a.copy(), n_resamples=199)["m"]
    shifted = st.permutation_test(diff, a, a + 1.0, n_resamples=199)["m"]
    assert same > 0.9 and shifted == pytest.approx(1 / 200)  # never 0 (Phipson & Smyth)


def test_permutation_engine_is_calibrated_under_the_null():
    rng = np.random.default_rng(1)
    ps = [st.permutation_test(lambda x, y: {"m": abs(y.mean() - x.mean())},
                              rng.normal(size=15), rng.normal(size=15), n_resamples=99,
                              seed=s)["m"] for s in range(200)]
    assert 0.04 < np.mean(np.array(ps) <= 0.1) < 0.18
    assert min(ps) >= 1 / 100


def test_paired_engine_equals_a_vectorised_sign_flip_test():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=30), rng.normal(0.3, 1, size=30)
    d = b - a
    flips = np.random.default_rng(7).choice([-1.0, 1.0], size=(500, d.size))
    null = np.abs((flips * d).mean(axis=1))
    expected = (1 + np.sum(null >= abs(d.mean()) - 1e-12)) / 501
    got = st.permutation_test(lambda x, y: {"m": abs(np.mean(y - x))}, a, b, paired=True,
                              n_resamples=500, seed=7)
    assert got == {"m": expected}
    with pytest.raises(InputError, match="equal lengths"):
        st.permutation_test(lambda x, y: {}, a, b[:5], paired=True)


def test_engine_skips_undefined_resamples_and_reports_nothing_when_undefined():
    def stat(x, y):
        if x[0] == 0:
            raise MetricUndefinedError("undefined")
        return {"m": float(abs(y.sum() - x.sum()))}

    p = st.permutation_test(stat, np.array([1, 2]), np.array([0, 3]), n_resamples=50)
    assert 0 < p["m"] <= 1
    assert st.permutation_test(stat, np.array([0, 2]), np.array([1, 3])) == {}


def test_permutation_test_sets_detects_a_shift():
    x = np.concatenate([np.zeros(50), np.ones(50)])
    p = st.permutation_test_sets(lambda idx: {"m": x[idx].mean()}, np.arange(50),
                                 np.arange(50, 100), n_resamples=99)
    q = st.permutation_test_sets(lambda idx: {"m": x[idx].mean()}, np.arange(0, 100, 2),
                                 np.arange(1, 100, 2), n_resamples=99)
    assert p["m"] == pytest.approx(0.01) and q["m"] > 0.5
    assert st.permutation_test_sets(lambda idx: {"m": 0.0}, np.arange(1), np.arange(3)) == {}


def _js_permutation_reference(a, b, n_resamples, seed):
    """The label-permutation test written out (the former probes implementation)."""
    k = max(a.max(), b.max()) + 1
    obs = jensenshannon(np.bincount(a, minlength=k), np.bincount(b, minlength=k)) ** 2
    pooled, rng, hits = np.concatenate([a, b]), np.random.default_rng(seed), 0
    for _ in range(n_resamples):
        perm = rng.permutation(pooled)
        js = jensenshannon(np.bincount(perm[:a.size], minlength=k),
                           np.bincount(perm[a.size:], minlength=k)) ** 2
        hits += js >= obs - 1e-12
    return obs, (1 + hits) / (1 + n_resamples)


def test_js_permutation_matches_the_written_out_test():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 60), rng.choice(4, 50, p=[0.7, 0.1, 0.1, 0.1])
    js, p = st.js_permutation(a, b, n_resamples=300, seed=4)
    ref_js, ref_p = _js_permutation_reference(a, b, 300, 4)
    assert js == pytest.approx(ref_js, abs=1e-12) and p == ref_p and p < 0.01
    _, p_same = st.js_permutation(a, a.copy(), n_resamples=100, seed=0)
    assert p_same == 1.0
    assert st.js_permutation(a, a[:0], n_resamples=10, seed=0)[1] is None


# ------------------------------------------------------------------ divergences


def test_jensen_shannon_is_scipy_squared_in_nats():
    rng = np.random.default_rng(5)
    for _ in range(20):
        p, q = rng.random(6) * (rng.random(6) > 0.3), rng.random(6) + 0.01
        if p.sum() == 0:
            continue
        assert st.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-12)
        assert st.jensen_shannon(p, q) == pytest.approx(st.jensen_shannon(q, p))
    assert st.jensen_shannon([1, 0], [0, 3]) == pytest.approx(math.log(2))
    assert st.jensen_shannon([2, 2], [5, 5]) == 0.0


def test_kullback_leibler():
    p, q = np.array([0.75, 0.25]), np.array([0.5, 0.5])
    assert st.kullback_leibler(p, q) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert st.kullback_leibler(q, np.array([1.0, 0.0])) == math.inf


# ------------------------------------------------------------------ intervals


def test_bootstrap_mean_ci_covers_the_mean_and_is_seeded():
    rng = np.random.default_rng(6)
    v = rng.normal(3, 1, size=200)
    lo, hi = st.bootstrap_mean_ci(v, seed=1)
    assert lo < v.mean() < hi and hi - lo == pytest.approx(2 * 1.96 / math.sqrt(200), rel=0.2)
    assert st.bootstrap_mean_ci(v, seed=1) == (lo, hi)
    assert st.bootstrap_mean_ci([1.0]) is None


def test_bootstrap_ci_many_statistics_and_outward_quantiles():
    v = np.arange(20.0)
    lo, hi = st.bootstrap_ci(lambda idx: np.column_stack([v[idx].mean(1), v[idx].max(1)]),
                             20, n_resamples=500, seed=2)
    assert lo.shape == hi.shape == (2,) and np.all(lo <= hi) and hi[1] == 19
    lin = st.bootstrap_ci(lambda idx: v[idx].mean(1), 20, n_resamples=500, seed=2)
    out = st.bootstrap_ci(lambda idx: v[idx].mean(1), 20, n_resamples=500, seed=2,
                          method="outward")
    assert out[0] <= lin[0] <= lin[1] <= out[1]
    with pytest.raises(InputError, match="method='x'"):
        st.bootstrap_ci(lambda idx: idx.mean(1), 3, method="x")


def test_cluster_bootstrap_share_contains_the_pooled_share():
    hits, totals = [3, 5, 0, 9, 4], [10, 10, 5, 12, 8]
    lo, hi = st.cluster_bootstrap_share(hits, totals, seed=0)
    assert lo < sum(hits) / sum(totals) < hi and 0 <= lo and hi <= 1


def test_normal_wilson_and_jackknife_intervals():
    assert st.normal_ci(0.0, 1.0) == pytest.approx((-norm.ppf(0.975), norm.ppf(0.975)))
    assert st.normal_ci(1.0, None) is None
    k, n, z = 7, 20, norm.ppf(0.975)
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    assert st.wilson_ci(k, n) == pytest.approx((centre - half, centre + half))
    x = np.random.default_rng(7).normal(size=400)
    se = st.half_sample_se(lambda idx: {"m": x[idx].mean()}, np.arange(400), n_resamples=300)
    assert se["m"] == pytest.approx(x.std(ddof=1) / 20, rel=0.2)


# ------------------------------------------------------------------ effect sizes


def test_effect_sizes():
    assert st.cohens_d(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])) == pytest.approx(1.0)
    assert st.cohens_d(np.ones(3), np.ones(3) * 2, paired=True) is None
    assert st.cohen_h(0.5, 0.5) == 0.0
    assert st.cohen_h(0.0, 1.0) == pytest.approx(math.pi)


# ------------------------------------------------------------------ EAD and homes


def test_ead_from_counts_is_the_closed_formula_and_shared():
    for u, c, v in [(4, 6, 10), (3, 3, 1000), (1, 1, 1), (50, 400, 50)]:
        expected = v * (1 - ((v - 1) / v) ** c) if v > 1 else 1.0
        assert lexical.ead_from_counts(u, c, v) == pytest.approx(u / expected, rel=1e-12)
    assert counts.ead_from_counts is lexical.ead_from_counts


def test_old_homes_forward_the_statistics_with_a_warning():
    for name in ("bootstrap_mean_ci", "cohens_d", "half_sample_se", "normal_ci",
                 "permutation_test_sets", "permutation_test_values"):
        with pytest.warns(DeprecationWarning, match=f"aggregate.{name} moved"):
            assert getattr(aggregate, name) is getattr(st, name)
    assert st.DIRECTIONS == ("higher_more_diverse", "lower_more_diverse", "distance", "neutral")


def test_metrics_namespace_exports_the_statistics_lazily():
    import subprocess
    import sys

    import rewardshift.metrics as metrics

    assert metrics.__all__ == sorted(metrics.__all__) == sorted(st.__all__)
    assert all(getattr(metrics, n) is getattr(st, n) for n in metrics.__all__)
    code = ("import sys, rewardshift.metrics.lexical; "
            "print('rewardshift.metrics.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
