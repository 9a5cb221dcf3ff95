"""Tests for rewardshift.metrics.images against independent computations and closed forms.

Peers: torchmetrics' Fréchet formula (``torchmetrics.image.fid._compute_fid``) and its whole
``FrechetInceptionDistance`` metric fed features through an identity extractor; the direct
``scipy.linalg.sqrtm`` formula; brute-force precision/recall and density/coverage on full
``cdist`` matrices. torchmetrics 1.9 has no precision/recall of generative models (its
``precision_recall_curve`` is the classification one), so that peer is the brute force only.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist, pdist

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics import images
from rewardshift.metrics.images import (
    density_coverage,
    frechet_distance,
    image_diversity,
    pixel_features,
    precision_recall,
)

RTOL = 1e-6


def _gauss(n: int, d: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """Correlated Gaussian features: a random linear map of N(0, I)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / math.sqrt(d)
    return rng.standard_normal((n, d)) @ mix * scale + rng.standard_normal(d)


def test_doctests() -> None:
    result = doctest.testmod(images)
    assert result.failed == 0 and result.attempted >= 8


# --------------------------------------------------------------------------- pixel_features


def test_pixel_features_is_the_block_mean() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    got = pixel_features(images, size=8)
    assert got.shape == (5, 8 * 8 * 3) and got.dtype == np.float64
    want = np.empty((5, 8, 8, 3))
    for i in range(8):
        for j in range(8):
            want[:, i, j] = images[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4].mean(axis=(1, 2)) / 255
    np.testing.assert_allclose(got, want.reshape(5, -1), rtol=0, atol=1e-15)


def test_pixel_features_range_and_full_size() -> None:
    images = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    images[1] = 255
    feats = pixel_features(images, size=8)
    assert feats[0].max() == 0.0 and feats[1].min() == 1.0
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_allclose(pixel_features(img, size=16), img.reshape(3, -1) / 255.0)


@pytest.mark.parametrize(("images", "size", "match"), [
    (np.zeros((2, 32, 32, 3), dtype=np.float32), 8, "uint8"),
    (np.zeros((32, 32, 3), dtype=np.uint8), 8, r"image\[None\]"),
    (np.zeros((2, 32, 32, 4), dtype=np.uint8), 8, "3 channels"),
    (np.zeros((2, 32, 32), dtype=np.uint8), 8, r"\(N, H, W, 3\)"),
    (np.zeros((0, 32, 32, 3), dtype=np.uint8), 8, "at least one image"),
    (np.zeros((2, 32, 32, 3), dtype=np.uint8), 6, "divides both"),
    (np.zeros((2, 32, 32, 3), dtype=np.uint8), 0, "size must be"),
])
def test_pixel_features_rejects_bad_input(images: np.ndarray, size: int, match: str) -> None:
    with pytest.raises(InputError, match=match):
        pixel_features(images, size=size)


# --------------------------------------------------------------------------- Fréchet


def _fd_sqrtm(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (pytorch-fid's): scipy sqrtm of S_a S_b, real part."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s_a @ s_b)
    assert np.abs(root.imag).max() < 1e-6 * np.abs(root.real).max()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root.real))


@pytest.mark.parametrize(("n_a", "n_b", "d"), [(600, 500, 20), (300, 400, 64), (50, 40, 8)])
def test_frechet_matches_torchmetrics_formula(n_a: int, n_b: int, d: int) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import _compute_fid

    a, b = _gauss(n_a, d, 1), _gauss(n_b, d, 2, scale=1.3)
    mu_a, mu_b = (torch.from_numpy(x.mean(0)) for x in (a, b))
    s_a, s_b = (torch.from_numpy(np.cov(x, rowvar=False)) for x in (a, b))
    want = float(_compute_fid(mu_a, s_a, mu_b, s_b))
    assert frechet_distance(a, b) == pytest.approx(want, rel=RTOL)
    assert frechet_distance(a, b) == pytest.approx(_fd_sqrtm(a, b), rel=RTOL)


def test_frechet_matches_torchmetrics_metric_end_to_end() -> None:
    """The whole FrechetInceptionDistance (its own sums and covariances) on given features."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Features(torch.nn.Module):  # identity "extractor": the inputs are the features
        num_features = 12

        def forward(self, x: object) -> object:
            return x

    a, b = _gauss(400, 12, 3), _gauss(300, 12, 4)
    fid = FrechetInceptionDistance(feature=Features())
    fid.update(torch.from_numpy(a), real=True)
    fid.update(torch.from_numpy(b), real=False)
    assert frechet_distance(b, a) == pytest.approx(float(fid.compute()), rel=RTOL)


def test_frechet_closed_forms() -> None:
    a = _gauss(4000, 10, 5)
    shift = np.arange(10) / 3.0
    # the same covariance, the means apart by shift: exactly ||shift||^2
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # two samples of one Gaussian: near 0 (estimation noise only), and the shifted ~ ||shift||^2
    rng = np.random.default_rng(6)
    mix = rng.standard_normal((10, 10))
    x, y = (rng.standard_normal((4000, 10)) @ mix for _ in range(2))
    assert frechet_distance(x, y) < 0.05 * np.trace(mix.T @ mix)
    assert frechet_distance(x, y + shift) == pytest.approx(float(shift @ shift), rel=0.05)


def test_frechet_is_symmetric_and_order_free() -> None:
    a, b = _gauss(200, 6, 7), _gauss(150, 6, 8)
    fd = frechet_distance(a, b)
    assert frechet_distance(b, a) == pytest.approx(fd, rel=1e-10)
    perm = np.random.default_rng(0).permutation(200)
    assert frechet_distance(a[perm], b) == pytest.approx(fd, rel=1e-10)


def test_frechet_rank_deficient_covariance() -> None:
    """n < d: singular covariances still give the textbook value (no NaN, no complex)."""
    a, b = _gauss(30, 48, 9), _gauss(40, 48, 10)
    assert frechet_distance(a, b) == pytest.approx(_fd_sqrtm(a, b), rel=RTOL)


def test_frechet_errors() -> None:
    with pytest.raises(MetricUndefinedError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(InputError, match="different widths"):
        frechet_distance(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(InputError, match="NaN"):
        frechet_distance(np.full((4, 3), np.nan), np.ones((4, 3)))


# --------------------------------------------------------------------------- k-NN manifolds


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def _pr_brute(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019 straight from the definition, on full exact-distance matrices."""
    d = cdist(real, fake)  # (n_real, n_fake)
    precision = (d <= _radii(real, k)[:, None]).any(axis=0).mean()
    recall = (d <= _radii(fake, k)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def _dc_brute(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    inside = cdist(real, fake) <= _radii(real, k)[:, None]
    return float(inside.sum() / (k * fake.shape[0])), float(inside.any(axis=1).mean())


@pytest.mark.parametrize("k", [1, 3, 5, 10])  # 10: the np.partition path
def test_precision_recall_matches_brute_force(k: int) -> None:
    real, fake = _gauss(300, 16, 11), _gauss(250, 16, 12, scale=1.4)
    assert precision_recall(real, fake, k=k) == pytest.approx(_pr_brute(real, fake, k), abs=1e-12)
    assert density_coverage(real, fake, k=k) == pytest.approx(_dc_brute(real, fake, k), rel=1e-12)


def test_precision_recall_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny blocks: the blocked pass gives the one-block answer."""
    real, fake = _gauss(120, 5, 13), _gauss(90, 5, 14, scale=0.7)
    want_pr, want_dc = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(images, "_BLOCK_ENTRIES", 500)
    assert precision_recall(real, fake) == want_pr
    assert density_coverage(real, fake) == want_dc
    assert want_pr == pytest.approx(_pr_brute(real, fake, 3), abs=1e-12)


def test_precision_recall_closed_forms() -> None:
    x = _gauss(200, 8, 15)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert density_coverage(x, x, k=4)[1] == 1.0
    assert precision_recall(x, x + 1e3) == (0.0, 0.0)
    # a fake set collapsed onto a few real points: precise, but recall is low
    collapsed = np.repeat(x[:3], 50, axis=0)
    p, r = precision_recall(x, collapsed)
    assert p == 1.0 and r < 0.2


def test_precision_recall_exact_duplicates() -> None:
    """Radius 0 balls (a point with k copies) still contain their copies."""
    base = np.random.default_rng(16).random((10, 4))
    x = np.repeat(base, 4, axis=0)  # each point 4 times: every 3-NN radius is 0
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x[::-1] + 0.0) == (1.0, 1.0)


def test_precision_recall_errors() -> None:
    with pytest.raises(MetricUndefinedError, match="at least 4"):
        precision_recall(np.ones((3, 2)), np.ones((10, 2)), k=3)
    with pytest.raises(InputError, match="k must be"):
        precision_recall(np.ones((5, 2)), np.ones((5, 2)), k=0)
    with pytest.raises(InputError, match="different widths"):
        density_coverage(np.ones((8, 2)), np.ones((8, 3)))
    assert density_coverage(_gauss(10, 2, 0), _gauss(1, 2, 1), k=5)[0] >= 0.0  # 1 fake is enough


# --------------------------------------------------------------------------- diversity


def _vendi_direct(x: np.ndarray, q: float) -> float:
    """Reference: the n x n cosine kernel's eigenvalues, straight from the paper."""
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(u @ u.T / u.shape[0])
    lam = lam[lam > lam.max() * max(u.shape) * np.finfo(float).eps]
    lam = lam / lam.sum()
    if q == 1:
        return math.exp(-float(np.sum(lam * np.log(lam))))
    if math.isinf(q):
        return 1.0 / float(lam.max())
    return float(np.sum(lam**q)) ** (1.0 / (1.0 - q))


@pytest.mark.parametrize("centre", [True, False])
def test_image_diversity_matches_direct(centre: bool) -> None:
    rng = np.random.default_rng(17)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    feats = pixel_features(images)
    got = image_diversity(feats, centre=centre)
    x = feats - feats.mean(0) if centre else feats
    for q, name in [(0.5, "vendi_q0.5"), (1.0, "vendi_q1"), (2.0, "vendi_q2"),
                    (math.inf, "vendi_qinf")]:
        assert got[name] == pytest.approx(_vendi_direct(x, q), rel=1e-9)
    assert got["mean_pairwise_distance"] == pytest.approx(pdist(feats).mean(), rel=1e-9)
    assert set(got) == {"vendi_q0.5", "vendi_q1", "vendi_q2", "vendi_qinf",
                        "mean_pairwise_distance"}


def test_image_diversity_centring_matters_for_positive_features() -> None:
    """Raw pixels all point the same way (cosine near 1); centred, the images differ."""
    rng = np.random.default_rng(18)
    feats = 0.5 + 0.05 * rng.standard_normal((100, 48))
    assert image_diversity(feats, centre=False)["vendi_q1"] < 1.5
    assert image_diversity(feats)["vendi_q1"] > 20


def test_image_diversity_identical_and_degenerate() -> None:
    same = np.tile(np.random.default_rng(19).random(12), (6, 1))
    d = image_diversity(same)
    assert d == {"vendi_q0.5": 1.0, "vendi_q1": 1.0, "vendi_q2": 1.0, "vendi_qinf": 1.0,
                 "mean_pairwise_distance": 0.0}
    with pytest.raises(MetricUndefinedError, match="equals the mean"):
        image_diversity(np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]]))
    assert image_diversity(np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]]), centre=False)
    with pytest.raises(MetricUndefinedError, match="at least 2"):
        image_diversity(np.ones((1, 3)))
    with pytest.raises(InputError, match="q must be"):
        image_diversity(np.eye(3), orders=(-1.0,))


def test_image_diversity_order_free() -> None:
    feats = _gauss(50, 10, 20)
    perm = np.random.default_rng(0).permutation(50)
    a, b = image_diversity(feats), image_diversity(feats[perm])
    assert a == pytest.approx(b, rel=1e-10)


# --------------------------------------------------------------------------- Mahalanobis OOD


def test_mahalanobis_ood_matches_scipy_and_flags_about_one_minus_q():
    from scipy.spatial.distance import mahalanobis

    rng = np.random.default_rng(3)
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 0.5]])
    ref = rng.multivariate_normal([1.0, -1.0, 0.0], cov, size=4000)
    x = rng.multivariate_normal([1.0, -1.0, 0.0], cov, size=4000)
    d, out, thr = images.mahalanobis_ood(ref, x, quantile=0.95, ridge=0.0, seed=1)
    fit = ref[np.random.default_rng(1).permutation(len(ref))[:2000]]
    vi = np.linalg.inv(np.cov(fit, rowvar=False))
    expect = [mahalanobis(r, fit.mean(axis=0), vi) for r in x[:20]]
    np.testing.assert_allclose(d[:20], expect, rtol=1e-9)
    assert abs(out.mean() - 0.05) < 0.015  # fresh in-distribution rows: ~1 - q flagged
    far = images.mahalanobis_ood(ref, x[:50] + [0.0, 0.0, 6.0], quantile=0.95, seed=1)[1]
    assert far.mean() > 0.95 and thr > 0


def test_mahalanobis_ood_rejects_bad_input():
    ref = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(InputError, match="quantile"):
        images.mahalanobis_ood(ref, ref, quantile=1.0)
    with pytest.raises(InputError, match="different widths"):
        images.mahalanobis_ood(ref, ref[:, :1])
    with pytest.raises((InputError, MetricUndefinedError)):
        images.mahalanobis_ood(ref[:2], ref)
