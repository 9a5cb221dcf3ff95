"""Image fidelity and diversity: metrics over feature matrices of images.

Images are numpy ``uint8`` arrays of shape ``(N, H, W, 3)``. :func:`pixel_features` turns them
into a feature matrix; every other function takes any ``(n_samples, n_features)`` matrix (pixel
features, a CNN's penultimate layer, ...), so the same code measures both. numpy/scipy only;
arithmetic in float64.

================================  ===========  =============================================
metric                            direction    reference
================================  ===========  =============================================
:func:`frechet_distance`          ↓ (>= 0)     Heusel et al. 2017 (the FID formula)
:func:`precision_recall`          ↑ [0, 1]     Kynkäänniemi et al. 2019 (k-NN manifolds)
:func:`density_coverage`          ↑ >= 0, ↑    Naeem et al. 2020
:func:`image_diversity`           ↑            Vendi (Friedman & Dieng 2023), mean distance
================================  ===========  =============================================

Fidelity (Fréchet distance, precision, density) compares generated ("fake") features to real
ones; recall and coverage say how much of the real distribution the generated one reaches --
the edge cases a tuned generator loses show up there first.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.metrics.semantic import (
    _check_embeddings,
    _check_order,
    remote_clique,
    vendi_scores,
)

__all__ = [
    "check_images",
    "density_coverage",
    "frechet_distance",
    "image_diversity",
    "mahalanobis_ood",
    "pixel_features",
    "precision_recall",
]

#: Entries of one (block, n) distance matrix held at once by the k-NN metrics (~32 MB float64).
_BLOCK_ENTRIES = 4_000_000

#: Rounding tolerance of a squared distance, as a share of the largest squared norm (after
#: centring): ``|a|^2 + |b|^2 - 2 a.b`` leaves ~1e-16 relative between duplicates, and a
#: duplicate must sit inside a radius of 0. Ball radii within it of 0 become 0, and every
#: ball is widened by it.
_ZERO_SQ = 1e-12

#: Up to this k, the k-th smallest of a row is found by removing the k - 1 smallest one argmin
#: at a time (~3 ms per pass over a 4M block) rather than np.partition (~100 ms per block).
_ARGMIN_MAX_K = 8


# --------------------------------------------------------------------------- pixels


def pixel_features(images: np.ndarray, *, size: int = 8) -> np.ndarray:
    """Area-downsampled pixels in [0, 1]: the simplest image feature.

    Each ``(H/size) x (W/size)`` block of each channel is averaged (a box filter, exactly what
    ``PIL``'s ``BOX`` resampling does at integer factors), then divided by 255.

    Parameters
    ----------
    images : ndarray of shape (N, H, W, 3), dtype uint8
        RGB images, ``N >= 1``; ``H`` and ``W`` divisible by ``size``.
    size : int, default=8
        Side of the downsampled image.

    Returns
    -------
    ndarray of shape (N, size * size * 3), float64
        In [0, 1]; column ``(row * size + col) * 3 + channel``.

    Examples
    --------
    >>> img = np.zeros((1, 4, 4, 3), dtype=np.uint8); img[0, :2, :2] = 255
    >>> pixel_features(img, size=2)[0, ::3]  # red channel of the 2 x 2 blocks
    array([1., 0., 0., 0.])
    """
    x = check_images(images, name="pixel_features")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(f"pixel_features: size must be an integer >= 1, got {size!r}")
    n, h, w, _ = x.shape
    if h % size or w % size:
        raise InputError(f"pixel_features: images of {h}x{w} pixels do not split into "
                         f"{size}x{size} equal blocks; choose a size that divides both "
                         f"(e.g. {math.gcd(h, w)}) or resize the images")
    bh, bw = h // size, w // size
    blocks = x.reshape(n, size, bh, size, bw, 3)
    out: np.ndarray = blocks.sum(axis=(2, 4), dtype=np.float64).reshape(n, size * size * 3)
    out *= 1.0 / (255.0 * bh * bw)
    return out


def check_images(images: object, *, name: str = "images", size: int | None = None,
                 channels: int = 3, min_side: int = 1) -> np.ndarray:
    """``images`` as a uint8 (N, H, W, channels) array, or an :class:`InputError` saying
    what is off and how to fix it. The one image check of the package: ``size`` demands
    ``H = W = size``, ``min_side`` a smallest height and width."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise InputError(f"{name}: images must be uint8 (0-255), got dtype {x.dtype}; "
                         "convert floats in [0, 1] with (x * 255).round().astype(np.uint8)")
    if x.ndim != 4:
        hint = " (a single image? add the batch axis with image[None])" if x.ndim == 3 else ""
        raise InputError(f"{name}: images must have shape (N, H, W, {channels}), got an array "
                         f"of shape {x.shape}{hint}")
    if x.shape[3] != channels:
        raise InputError(f"{name}: images must have {channels} channels (RGB) on the last "
                         f"axis, got shape {x.shape}; convert grayscale or RGBA images to RGB "
                         "first")
    if x.shape[0] < 1 or min(x.shape[1], x.shape[2]) < min_side:
        raise InputError(f"{name}: need at least one image of at least {min_side}x{min_side} "
                         f"pixels, got shape {x.shape}")
    if size is not None and x.shape[1:3] != (size, size):
        raise InputError(f"{name}: images are {x.shape[1]}x{x.shape[2]} but {size}x{size} are "
                         "needed; render or resize them to that size")
    return x


# --------------------------------------------------------------------------- Fréchet


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    ``FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` with the sample means ``mu``
    and the unbiased (``n - 1``) covariances ``S``, as in pytorch-fid and torchmetrics.

    Parameters
    ----------
    feats_a, feats_b : array-like of shape (n_a, d), (n_b, d)
        Finite features, ``n_a, n_b >= 2``. With Inception-v3 pool features this is FID.

    Returns
    -------
    float
        ``>= 0``; lower = the two sets are closer (0 when their means and covariances agree).

    Raises
    ------
    MetricUndefinedError
        With fewer than 2 rows on either side (no covariance).

    Notes
    -----
    Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter 2017, "GANs Trained by a Two Time-Scale
    Update Rule Converge to a Local Nash Equilibrium" (NeurIPS). ``Tr (S_a S_b)^{1/2}`` is the
    sum of the square roots of the eigenvalues of ``S_a S_b``, which equal those of the
    symmetric PSD ``M = S_a^{1/2} S_b S_a^{1/2}``; we take ``S_a^{1/2}`` from ``eigh(S_a)``
    and the eigenvalues of ``M`` from ``eigvalsh`` (negative rounding noise clipped to 0).
    Two symmetric eigen-solves are faster than ``scipy.linalg.sqrtm`` (a Schur decomposition
    of the non-symmetric product, which needs an imaginary-part check) and than torchmetrics'
    general ``eigvals(S_a S_b)``, and they give real values by construction; the tests check
    all three agree to 1e-6. The result is clipped at 0 (rounding can leave ``-1e-13``).

    Examples
    --------
    >>> a = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> round(frechet_distance(a, a + [3.0, 4.0]), 6)  # a shift by (3, 4): ||shift||^2
    25.0
    """
    a = _check_embeddings(feats_a, min_samples=2, metric="frechet_distance", normalize=False)
    b = _check_embeddings(feats_b, min_samples=2, metric="frechet_distance", normalize=False)
    _check_same_width(a, b, "frechet_distance")
    mu_a, cov_a = _mean_cov(a)
    mu_b, cov_b = _mean_cov(b)
    return _frechet_from_moments(mu_a, cov_a, mu_b, cov_b)


def _check_same_width(a: np.ndarray, b: np.ndarray, metric: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise InputError(f"{metric}: the two feature sets have different widths "
                         f"({a.shape[1]} and {b.shape[1]} features); compute both with the "
                         "same feature extractor")


def _mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of the rows of ``x`` (n >= 2)."""
    mu = x.mean(axis=0)
    c = x - mu
    cov = c.T @ c
    cov /= x.shape[0] - 1
    return mu, cov


def _frechet_from_moments(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray,
                          cov_b: np.ndarray) -> float:
    """The FD formula from means and covariances; assumes symmetric PSD covariances."""
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T  # S_a^{1/2}
    m = root_a @ cov_b @ root_a
    lam = np.linalg.eigvalsh((m + m.T) * 0.5)
    tr_root = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    diff = mu_a - mu_b
    fd = float(diff @ diff) + float(np.trace(cov_a)) + float(np.trace(cov_b)) - 2.0 * tr_root
    return max(fd, 0.0)


def mahalanobis_ood(reference: np.ndarray, features: np.ndarray, *, quantile: float = 0.99,
                    ridge: float = 1e-3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Which rows of ``features`` lie outside the distribution of ``reference``.

    ``D(x) = sqrt((x - mu)^T (S + r I)^{-1} (x - mu))``, the Mahalanobis distance to a
    Gaussian fitted to one random half of ``reference`` (mean ``mu``, unbiased covariance
    ``S``, ridge ``r`` times the mean variance for a stable inverse); the threshold is the
    ``quantile`` of ``D`` over the *other* half, so a reference image is flagged with
    probability about ``1 - quantile`` and the threshold is not fitted on the rows it judges.

    Lee, Lee, Lee & Shin 2018, "A Simple Unified Framework for Detecting Out-of-Distribution
    Samples and Adversarial Attacks" (NeurIPS): the Mahalanobis score on a classifier's
    penultimate features.

    Parameters
    ----------
    reference : (n, d) finite features of in-distribution images, ``n >= 4``.
    features : (m, d) finite features to judge (the same extractor).
    quantile : in (0, 1); the share of held-out reference rows below the threshold.
    ridge : >= 0, added to the covariance's diagonal as a share of its mean variance.
    seed : the random halving of ``reference``.

    Returns
    -------
    (distance, outside, threshold)
        ``distance`` (m,), ``outside`` (m,) bool ``distance > threshold``, and the threshold.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(400, 3))
    >>> _, out, _ = mahalanobis_ood(ref, np.array([[0.0, 0, 0], [9.0, 0, 0]]))
    >>> out.tolist()
    [False, True]
    """
    ref = _check_embeddings(reference, min_samples=4, metric="mahalanobis_ood",
                            normalize=False)
    x = _check_embeddings(features, min_samples=1, metric="mahalanobis_ood", normalize=False)
    _check_same_width(ref, x, "mahalanobis_ood")
    if not 0.0 < float(quantile) < 1.0:
        raise InputError(f"quantile={quantile!r} must lie in (0, 1)", option="quantile")
    if not ridge >= 0.0:
        raise InputError(f"ridge={ridge!r} must be >= 0", option="ridge")
    perm = np.random.default_rng(seed).permutation(len(ref))
    fit, held = ref[perm[: len(ref) // 2]], ref[perm[len(ref) // 2:]]
    mu, cov = _mean_cov(fit)
    cov[np.diag_indices_from(cov)] += ridge * max(float(np.trace(cov)) / cov.shape[0], 1e-12)
    w, v = np.linalg.eigh(cov)
    whiten = v / np.sqrt(np.clip(w, 1e-12, None))

    def dist(z: np.ndarray) -> np.ndarray:
        y = (z - mu) @ whiten
        return np.asarray(np.sqrt(np.einsum("ij,ij->i", y, y)), dtype=float)

    threshold = float(np.quantile(dist(held), quantile))
    d = dist(x)
    return d, d > threshold, threshold


# --------------------------------------------------------------------------- k-NN manifolds


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of generative models (k-NN manifolds).

    Each sample's manifold ball has as radius the distance to its ``k``-th nearest *other*
    sample of its own set. Precision is the share of ``fake`` rows inside the union of the
    ``real`` balls (``||f - r|| <= radius(r)`` for some ``r``); recall is the share of ``real``
    rows inside the union of the ``fake`` balls.

    Parameters
    ----------
    real, fake : array-like of shape (n_real, d), (n_fake, d)
        Finite features; each set needs at least ``k + 1`` rows.
    k : int, default=3
        Neighbourhood size (the paper's default).

    Returns
    -------
    (precision, recall) : tuple of float
        Each in [0, 1]; higher = better (precision: fidelity, recall: coverage of the real
        distribution). Both 1 when the sets are identical.

    Notes
    -----
    Kynkäänniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved Precision and Recall Metric
    for Assessing Generative Models" (NeurIPS); ``<=`` at the boundary as in their code.
    Distances come from blocked matrix products (``|a|^2 + |b|^2 - 2 a.b`` on features centred
    on the real mean), so memory stays O(block * n); k-d trees do not beat brute force at
    d >= 64. One pass over the (real, fake) block matrix serves both directions. Balls
    are widened by ``1e-12`` of the largest squared norm (rounding), so duplicates are inside.

    Examples
    --------
    >>> x = np.arange(12.0).reshape(6, 2)
    >>> precision_recall(x, x, k=2)
    (1.0, 1.0)
    >>> precision_recall(x, x + 100.0, k=2)
    (0.0, 0.0)
    """
    m = _manifold_stats(real, fake, k=k, metric="precision_recall")
    return float(m["fake_in_real"].mean()), float(m["real_in_fake"].mean())


def density_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage of generated samples (k-NN balls around the real samples only).

    With ``B_i`` the ball around ``real[i]`` of radius its ``k``-th nearest other real sample:
    ``density = 1/(k M) sum_j sum_i 1[fake_j in B_i]`` and ``coverage = 1/N sum_i 1[some fake_j
    in B_i]`` (``N`` real, ``M`` fake rows).

    Parameters
    ----------
    real, fake : array-like of shape (n_real, d), (n_fake, d)
        Finite features; ``real`` needs at least ``k + 1`` rows, ``fake`` at least 1.
    k : int, default=5
        Neighbourhood size (the paper's default).

    Returns
    -------
    (density, coverage) : tuple of float
        ``density >= 0`` (about 1 when fake matches real; above 1 when fake piles up where real
        is dense); ``coverage`` in [0, 1]. Higher = better for both.

    Notes
    -----
    Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics for Generative
    Models" (ICML). Unlike precision and recall they use no ball around a fake sample, so a
    few fake outliers cannot inflate them. Distances as in :func:`precision_recall`.

    Examples
    --------
    >>> x = np.arange(12.0).reshape(6, 2)
    >>> density_coverage(x, x, k=2)  # each ball holds its centre and k neighbours: (k+1)/k
    (1.5, 1.0)
    """
    m = _manifold_stats(real, fake, k=k, metric="density_coverage", fake_radii=False)
    n_fake = len(fake)
    return float(m["hits"].sum()) / (int(k) * n_fake), float(m["real_covered"].mean())


def _check_k(k: object, metric: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"{metric}: k must be an integer >= 1, got {k!r}")
    return int(k)


def _manifold_stats(real: object, fake: object, *, k: object, metric: str,
                    fake_radii: bool = True) -> dict[str, np.ndarray]:
    """Validate, then one blocked pass over the (real, fake) squared distances.

    With ``fake_radii`` (precision/recall): ``fake_in_real`` (n_fake,) and ``real_in_fake``
    (n_real,) booleans. Without (density/coverage): ``real_covered`` (n_real,) booleans and
    ``hits`` (n_real,), the number of fake rows in each real ball.
    """
    kk = _check_k(k, metric)
    r = _check_embeddings(real, min_samples=kk + 1, metric=metric, normalize=False)
    f = _check_embeddings(fake, min_samples=kk + 1 if fake_radii else 1, metric=metric,
                          normalize=False)
    _check_same_width(r, f, metric)
    centre = r.mean(axis=0)
    r, f = r - centre, f - centre  # distances do not change; rounding does (less cancellation)
    sq_r, sq_f = np.einsum("ij,ij->i", r, r), np.einsum("ij,ij->i", f, f)
    tol = _ZERO_SQ * max(float(sq_r.max()), float(sq_f.max()), np.finfo(np.float64).tiny)
    thr_r = _kth_neighbour_sq(r, sq_r, kk, tol)
    thr_f = _kth_neighbour_sq(f, sq_f, kk, tol) if fake_radii else None
    n_r, n_f = r.shape[0], f.shape[0]
    out = ({"fake_in_real": np.zeros(n_f, dtype=bool), "real_in_fake": np.zeros(n_r, dtype=bool)}
           if fake_radii else
           {"real_covered": np.zeros(n_r, dtype=bool), "hits": np.zeros(n_r, dtype=np.int64)})
    f_neg2 = -2.0 * f
    for start, stop in _blocks(n_r, n_f):
        d2 = _sq_dists(r[start:stop], sq_r[start:stop], f_neg2, sq_f)  # (block, n_fake)
        inside = d2 <= thr_r[start:stop, None]  # fake j in real ball i
        if thr_f is not None:
            out["fake_in_real"] |= inside.any(axis=0)
            out["real_in_fake"][start:stop] = (d2 <= thr_f[None, :]).any(axis=1)
        else:
            out["hits"][start:stop] = np.count_nonzero(inside, axis=1)
            out["real_covered"][start:stop] = out["hits"][start:stop] > 0
    return out


def _blocks(n_rows: int, width: int) -> Iterator[tuple[int, int]]:
    """Row ranges whose (rows, width) float64 matrices hold about ``_BLOCK_ENTRIES`` entries."""
    step = max(1, _BLOCK_ENTRIES // max(width, 1))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def _sq_dists(a: np.ndarray, sq_a: np.ndarray, b_neg2: np.ndarray, sq_b: np.ndarray
              ) -> np.ndarray:
    """Squared distances (len(a), len(b)) from ``b_neg2 = -2 b``; rounding noise of +-tol."""
    d2: np.ndarray = a @ b_neg2.T
    d2 += sq_a[:, None]
    d2 += sq_b[None, :]
    return d2


def _kth_neighbour_sq(x: np.ndarray, sq: np.ndarray, k: int, tol: float) -> np.ndarray:
    """Membership threshold of each row's ball: its ``k``-th nearest other row's squared distance.

    A radius within rounding of 0 (``<= tol``: the row has ``k`` duplicates) becomes 0, and
    ``tol`` is added to every radius, so a duplicate (computed as ``0 +- tol``) is inside.
    """
    n = x.shape[0]
    out = np.empty(n)
    x_neg2 = -2.0 * x
    for start, stop in _blocks(n, n):
        d2 = _sq_dists(x[start:stop], sq[start:stop], x_neg2, sq)
        rows = np.arange(stop - start)
        d2[rows, np.arange(start, stop)] = np.inf  # not its own neighbour
        if k <= _ARGMIN_MAX_K:  # k - 1 vectorised argmin passes beat introselect at small k
            for _ in range(k - 1):
                d2[rows, np.argmin(d2, axis=1)] = np.inf
            out[start:stop] = d2.min(axis=1)
        else:
            out[start:stop] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    out[out <= tol] = 0.0
    out += tol
    return out


# --------------------------------------------------------------------------- diversity


def image_diversity(features: np.ndarray, *, orders: Sequence[float] = (0.5, 1.0, 2.0, math.inf),
                    centre: bool = True) -> dict[str, float]:
    """Vendi scores of several orders and the mean pairwise distance of image features.

    The Vendi scores are :func:`rewardshift.metrics.semantic.vendi_scores` (cosine kernel) of
    the features *centred on their own mean* (the one place this module centres for
    diversity). Pixel values and post-ReLU CNN features are all >= 0, so every raw pair has
    cosine near 1 and the kernel sees mostly the shared mean image; centred, the cosine
    compares how two images *differ from the average one*, and identical images give 1.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Finite features (e.g. :func:`pixel_features`), ``n_samples >= 2``.
    orders : sequence of float, default=(0.5, 1, 2, inf)
        Vendi orders ``q >= 0``.
    centre : bool, default=True
        Subtract the mean row before the cosine kernel; ``False`` gives Vendi of the raw rows.

    Returns
    -------
    dict
        ``vendi_q{q}`` for each order (``vendi_q0.5``, ``vendi_q1``, ``vendi_q2``,
        ``vendi_qinf``; in [1, n], the names :mod:`rewardshift.measure` uses) and
        ``mean_pairwise_distance`` (mean Euclidean distance over pairs of distinct samples,
        uncentred -- centring does not change it). Higher = more diverse for all.

    Raises
    ------
    MetricUndefinedError
        With fewer than 2 samples, or when (centring) a sample equals the mean of the others
        but not every sample does: it has no direction; pass ``centre=False``.

    Notes
    -----
    Friedman & Dieng 2023, "The Vendi Score" (TMLR); orders from Pasarkar & Dieng 2023.
    Centring removes one dimension, so ``n`` centred samples have at most ``n - 1`` directions
    (two distinct images give Vendi 1: they differ from their mean in opposite directions).

    Examples
    --------
    >>> x = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1/3, 1/3, 1/3]])
    >>> d = image_diversity(np.vstack([x[:3], x[:3]]))  # three corners, twice
    >>> round(d["vendi_q1"], 6), round(d["mean_pairwise_distance"], 6)
    (2.0, 1.131371)
    """
    qs = [_check_order(q) for q in orders]
    x = _check_embeddings(features, min_samples=2, metric="image_diversity", normalize=False)
    spread = remote_clique(x, normalize=False)
    if centre:
        scale = float(np.linalg.norm(x, axis=1).max())
        x = x - x.mean(axis=0)
        # at the mean up to the rounding of the mean itself (relative to the rows' size)
        at_mean = np.linalg.norm(x, axis=1) <= 1e-12 * scale
        if at_mean.all():  # every sample identical: one image, no diversity
            scores = {q: 1.0 for q in qs}
            return {**_vendi_names(scores), "mean_pairwise_distance": spread}
        if at_mean.any():
            raise MetricUndefinedError(
                f"image_diversity: sample {int(np.argmax(at_mean))} equals the mean of the "
                "set, so after centring it has no direction for the cosine kernel; pass "
                "centre=False or drop that sample")
    return {**_vendi_names(vendi_scores(x, orders=qs)), "mean_pairwise_distance": spread}


def _vendi_names(scores: dict[float, float]) -> dict[str, float]:
    """``{q: v}`` as ``{"vendi_q{q}": v}`` (``vendi_q1``, ``vendi_q0.5``, ``vendi_qinf``)."""
    def name(q: float) -> str:
        return "inf" if math.isinf(q) else (str(int(q)) if q.is_integer() else str(q))
    return {f"vendi_q{name(q)}": v for q, v in scores.items()}
