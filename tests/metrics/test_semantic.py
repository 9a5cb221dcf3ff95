"""Tests for rewardshift.metrics.semantic against direct, independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist, pdist, squareform

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics import semantic
from rewardshift.metrics.semantic import (
    chamfer_distance,
    cluster_stats,
    embedding_diversity,
    largest_cluster_mass,
    n_clusters,
    pairwise_cosine,
    remote_clique,
    vendi_score,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _vendi_direct(x: np.ndarray, q: float) -> float:
    """Reference: O(n^3) eigen-solve of the n x n cosine kernel, straight from the paper."""
    u = _unit(np.asarray(x, dtype=np.float64))
    n = u.shape[0]
    lam = np.linalg.eigvalsh(u @ u.T / n)
    # true zeros come out as +-1e-17 noise: drop them with numpy.linalg.matrix_rank's tolerance
    lam = lam[lam > lam.max() * max(u.shape) * np.finfo(float).eps]
    lam = lam / lam.sum()
    if q == 1:
        return math.exp(-np.sum(lam * np.log(lam)))
    if math.isinf(q):
        return 1 / lam.max()
    return math.exp(math.log(np.sum(lam**q)) / (1 - q))


def _clustered(rng: np.random.Generator, n: int, d: int, k: int, noise: float) -> np.ndarray:
    centres = rng.standard_normal((k, d))
    return centres[rng.integers(0, k, n)] + noise * rng.standard_normal((n, d))


# ----------------------------------------------------------------- embedding_diversity


def test_embedding_diversity_matches_pairwise_mean():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 16))
    cos = 1 - pdist(x, "cosine")  # independent: scipy's cosine distance
    assert embedding_diversity(x) == pytest.approx(1 - cos.mean(), abs=1e-12)


def test_embedding_diversity_extremes():
    assert embedding_diversity(np.tile([[0.3, -2.0, 1.0]], (5, 1))) == pytest.approx(0, abs=1e-12)
    assert embedding_diversity(np.eye(6)) == pytest.approx(1.0)
    assert embedding_diversity([[1.0, 0.0], [-1.0, 0.0]]) == pytest.approx(2.0)


def test_embedding_diversity_scale_invariant_and_shuffle_invariant():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 8))
    scaled = x * rng.uniform(0.1, 10, (20, 1))
    perm = rng.permutation(20)
    assert embedding_diversity(scaled) == pytest.approx(embedding_diversity(x), abs=1e-12)
    assert embedding_diversity(x[perm]) == pytest.approx(embedding_diversity(x), abs=1e-12)


def test_pairwise_cosine():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 5))
    s = pairwise_cosine(x)
    assert s.shape == (9, 9)
    np.testing.assert_allclose(s, 1 - squareform(pdist(x, "cosine")) - 0 * np.eye(9) + 0,
                               atol=1e-12)
    np.testing.assert_allclose(np.diag(s), 1, atol=1e-12)


# ----------------------------------------------------------------- Vendi


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, math.inf])
@pytest.mark.parametrize("n,d", [(60, 7), (200, 32), (12, 50), (30, 30), (5, 384)])
def test_vendi_dual_matches_direct_eigensolve(q, n, d):
    rng = np.random.default_rng(n * 1000 + d)
    x = _clustered(rng, n, d, k=4, noise=0.7)
    assert vendi_score(x, q=q) == pytest.approx(_vendi_direct(x, q), abs=1e-6, rel=1e-9)


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 2.0, math.inf])
def test_vendi_identical_rows_give_one(q):
    x = np.tile([[1.0, -2.0, 0.5, 3.0]], (25, 1)) * np.arange(1, 26)[:, None]
    assert vendi_score(x, q=q) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 2.0, math.inf])
@pytest.mark.parametrize("n,d", [(8, 8), (5, 20)])
def test_vendi_orthogonal_rows_give_n(q, n, d):
    rng = np.random.default_rng(3)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = basis[:n] * rng.uniform(0.5, 3.0, (n, 1))
    assert vendi_score(x, q=q) == pytest.approx(n, rel=1e-9)


def test_vendi_order_zero_is_rank():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((100, 3)) @ rng.standard_normal((3, 40))  # rank 3
    assert vendi_score(x, q=0) == 3.0
    assert vendi_score(rng.standard_normal((100, 10)), q=0) == 10.0


def test_vendi_is_non_increasing_in_q_and_in_range():
    rng = np.random.default_rng(5)
    x = _clustered(rng, 80, 16, k=5, noise=0.5)
    scores = [vendi_score(x, q=q) for q in (0, 0.25, 0.5, 1, 2, 5, math.inf)]
    assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:], strict=False))
    assert 1 <= scores[-1] and scores[0] <= 16


def test_vendi_two_exact_clusters():
    # two orthogonal directions, 10 copies each: effective number = 2 for every q
    x = np.vstack([np.tile([1.0, 0.0, 0.0], (10, 1)), np.tile([0.0, 0.0, 1.0], (10, 1))])
    for q in (0.5, 1, 2, math.inf):
        assert vendi_score(x, q=q) == pytest.approx(2.0, rel=1e-9)


def test_vendi_single_sample_and_bad_q():
    assert vendi_score([[1.0, 2.0]]) == 1.0
    with pytest.raises(InputError, match="q must be >= 0"):
        vendi_score(np.eye(3), q=-1)
    with pytest.raises(InputError, match="q"):
        vendi_score(np.eye(3), q=float("nan"))


# ----------------------------------------------------------------- clustering


def test_cluster_stats_matches_scipy_reference():
    rng = np.random.default_rng(6)
    x = _clustered(rng, 90, 12, k=6, noise=0.3)
    labels = fcluster(linkage(pdist(x, "cosine"), "average"), t=0.25, criterion="distance")
    sizes = np.bincount(labels)[1:]
    assert cluster_stats(x) == (len(sizes), sizes.max() / 90)
    assert n_clusters(x) == len(sizes)
    assert largest_cluster_mass(x) == sizes.max() / 90


def test_cluster_stats_cases():
    assert cluster_stats([[0.1, 0.2]]) == (1, 1.0)
    assert cluster_stats(np.tile([[1.0, 1.0]], (7, 1))) == (1, 1.0)
    assert cluster_stats(np.eye(5)) == (5, 0.2)
    # cos(a, b) = 0.8 -> distance 0.2: merged at 0.25, separate at 0.1
    x = [[1.0, 0.0], [0.8, 0.6]]
    assert cluster_stats(x) == (1, 1.0)
    assert cluster_stats(x, threshold=0.1) == (2, 0.5)
    with pytest.raises(InputError, match="threshold"):
        cluster_stats(x, threshold=3)


# ----------------------------------------------------------------- distances


def test_remote_clique_and_chamfer_match_cdist():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((41, 6))
    dist = cdist(_unit(x), _unit(x))
    np.fill_diagonal(dist, np.nan)
    assert remote_clique(x) == pytest.approx(np.nanmean(dist), abs=1e-10)
    assert chamfer_distance(x) == pytest.approx(np.nanmin(dist, axis=1).mean(), abs=1e-10)
    raw = cdist(x, x)
    np.fill_diagonal(raw, np.inf)
    assert chamfer_distance(x, normalize=False) == pytest.approx(raw.min(axis=1).mean(), abs=1e-10)


def test_distances_blockwise_equal_single_block(monkeypatch):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((50, 4))
    whole = remote_clique(x), chamfer_distance(x)
    monkeypatch.setattr(semantic, "_BLOCK_ENTRIES", 60)  # blocks of one row
    assert (remote_clique(x), chamfer_distance(x)) == pytest.approx(whole, abs=1e-12)


def test_chamfer_exact_zero_for_duplicates():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 384))
    assert chamfer_distance(np.vstack([x, x])) == 0.0
    assert remote_clique(np.tile(x[:1], (4, 1))) == 0.0
    # duplicates are merged with weights: same value as the plain pairwise mean
    y = np.vstack([x, x[:3], x[:1]])
    dist = cdist(_unit(y), _unit(y))
    assert remote_clique(y) == pytest.approx(dist.sum() / (10 * 9), abs=1e-7)


# ----------------------------------------------------------------- shared properties

PAIRWISE = [embedding_diversity, remote_clique, chamfer_distance]
ALL_SCALAR = [*PAIRWISE, vendi_score, n_clusters, largest_cluster_mass]


@pytest.mark.parametrize("metric", PAIRWISE)
def test_pairwise_metrics_need_two_samples(metric):
    with pytest.raises(MetricUndefinedError, match="at least 2"):
        metric(np.ones((1, 3)))


@pytest.mark.parametrize("metric", [*ALL_SCALAR, pairwise_cosine])
def test_bad_input_is_input_error(metric):
    with pytest.raises(InputError, match=r"shape \(5,\)"):
        metric(np.ones(5))
    with pytest.raises(InputError, match="NaN or inf"):
        metric(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(InputError, match="all zeros"):
        metric(np.array([[0.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(InputError, match="numeric"):
        metric([["a", "b"], ["c", "d"]])


@pytest.mark.parametrize("metric", ALL_SCALAR)
def test_shuffle_invariance(metric):
    rng = np.random.default_rng(10)
    x = _clustered(rng, 30, 5, k=3, noise=0.4)
    assert metric(x[rng.permutation(30)]) == pytest.approx(metric(x), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 12), st.integers(1, 6)),
              elements=st.floats(-10, 10, allow_nan=False, width=64)))
def test_bounds_hold_on_arbitrary_data(x):
    norms = np.linalg.norm(x, axis=1)
    if (norms < 1e-6).any():
        return
    n, d = x.shape
    assert -1e-12 <= embedding_diversity(x) <= 2 + 1e-12
    assert 1 - 1e-9 <= vendi_score(x) <= min(n, d) + 1e-9
    assert 0 <= chamfer_distance(x) <= remote_clique(x) * n + 1e-9  # nearest <= mean * n
    assert 0 <= remote_clique(x) <= 2 + 1e-9
    k, mass = cluster_stats(x)
    assert 1 <= k <= n and 1 / n - 1e-12 <= mass <= 1


def test_vendi_scores_equal_vendi_score_per_order():
    from rewardshift.metrics.semantic import vendi_score, vendi_scores

    x = np.random.default_rng(7).normal(size=(30, 5))
    orders = (0.0, 0.5, 1.0, 2.0, np.inf)
    got = vendi_scores(x, orders=orders)
    for q in orders:
        assert got[q] == vendi_score(x, q=q)


def test_distance_matrix_forms_equal_embedding_forms():
    from rewardshift.metrics import semantic as sem

    rng = np.random.default_rng(11)
    x = np.vstack([rng.normal(size=(25, 8)), np.tile(rng.normal(size=(1, 8)), (5, 1))])
    d = sem.cosine_distance_matrix(x)
    assert sem.remote_clique_from_distances(d) == pytest.approx(sem.remote_clique(x), abs=1e-7)
    assert sem.chamfer_distance_from_distances(d) == pytest.approx(sem.chamfer_distance(x),
                                                                   abs=1e-7)
    for t in (0.1, 0.25, 0.6):
        assert sem.cluster_stats_from_distances(d, threshold=t) == sem.cluster_stats(x, threshold=t)
    sub = np.array([0, 3, 26, 27])  # a submatrix is the matrix of the subset
    assert sem.cluster_stats_from_distances(d[np.ix_(sub, sub)]) == sem.cluster_stats(x[sub])


def test_vendi_never_changes_the_callers_array_and_any_dtype_gives_the_same_score():
    """The cold-start path divides the converted copy in place; never the caller's array."""
    import numpy as np

    from rewardshift.metrics.semantic import vendi_score

    x64 = np.random.default_rng(0).normal(size=(300, 16))
    keep = x64.copy()
    a = vendi_score(x64)
    assert np.array_equal(x64, keep)
    assert vendi_score(x64.astype(np.float32)) == pytest.approx(a, rel=1e-6)
    assert vendi_score(x64.tolist()) == pytest.approx(a, rel=1e-12)
    view = x64[::2]
    vendi_score(view)
    assert np.array_equal(x64, keep)
