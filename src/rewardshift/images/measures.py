"""Measurements of breakage frames from pixels alone (no latents), vectorised over N.

Every measure starts from the luminance ``L = 0.299 R + 0.587 G + 0.114 B`` in ``[0, 1]`` and
its Otsu split (Otsu 1979: the threshold maximising the between-class variance, computed for
all images at once from their 256-bin histograms); the brighter class is the pane.

Physical axes
-------------
* ``fragment_count``: 4-connected components of the pane mask with at least
  :data:`MIN_AREA` pixels (the cracks are dark gaps).
* ``size_slope``: the fragment-size exponent ``tau`` from the rank-size law: for ``n(s) ~
  s^(-tau)`` the ``k``-th largest fragment has area ``~ k^(-1/(tau - 1))``, so ``tau = 1 -
  1 / b`` with ``b`` the least-squares slope of ``log area`` on ``log rank``; NaN with fewer
  than three fragments.
* ``asymmetry``: the mean resultant length of the directions from the impact to the
  fragments' centroids (0 for an even crack star, 1 when every fragment lies one way); the
  impact is estimated as the peak of the blurred crack density inside the pane's bounding
  box, where the radial cracks converge.
* ``progress``: dispersal, ``log(I / A^2)`` with ``A`` the pane area and ``I`` its polar
  moment of inertia about its centroid (a solid square gives ``log(1/6)``; it grows as
  fragments fly apart).

Perceptual axes
---------------
* ``symmetry``: the larger Pearson correlation of ``L`` with its left-right and its up-down
  mirror image, clipped to ``[0, 1]``.
* ``contrast``: RMS contrast, the standard deviation of ``L`` (Peli 1990).
* ``clarity``: Fisher separation of the Otsu classes, ``F / (1 + F)`` with ``F = (mu_1 -
  mu_0)^2 / (var_0 + var_1)``: 1 for a crisp silhouette on a plain background.
* ``centredness``: ``1 - |c| / sqrt 2``, ``c`` the pane mask's centroid in image half-widths
  from the centre (1: centred).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from rewardshift.metrics.images import check_images

__all__ = ["MIN_AREA", "foreground", "luminance", "measure_images"]

MIN_AREA = 2  # smallest fragment counted [pixels]
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)  # 4-connectivity inside each image only
_STRUCTURE[1] = ndimage.generate_binary_structure(2, 1)


def luminance(images: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in ``[0, 1]``, float64 ``(N, H, W)``."""
    a = check_images(images, min_side=4).astype(np.float64)
    return (0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]) / 255.0


def _otsu(lum: np.ndarray) -> np.ndarray:
    """Per-image Otsu threshold on 256 levels, (N,)."""
    n = lum.shape[0]
    q = np.clip(np.round(lum * 255), 0, 255).astype(np.int64).reshape(n, -1)
    hist = np.bincount((q + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n)
    p = hist.reshape(n, 256) / q.shape[1]
    levels = np.arange(256)
    w0 = np.cumsum(p, axis=1)
    mu = np.cumsum(p * levels, axis=1)
    mu_t = mu[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_t * w0 - mu) ** 2 / (w0 * (1 - w0))
    between = np.where(np.isfinite(between), between, -1.0)
    return (np.argmax(between, axis=1) + 0.5) / 255.0


def foreground(images: np.ndarray) -> np.ndarray:
    """The pane mask: luminance above each image's Otsu threshold, bool ``(N, H, W)``."""
    lum = luminance(images)
    return lum > _otsu(lum)[:, None, None]


def _components(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Per component (area >= MIN_AREA): image index, area, centroid (x, y)."""
    labels, count = ndimage.label(mask, structure=_STRUCTURE)
    lab = labels.ravel()
    area = np.bincount(lab, minlength=count + 1).astype(np.float64)
    h, w = mask.shape[1:]
    yy, xx = np.indices((h, w))
    sx = np.bincount(lab, weights=np.broadcast_to(xx, mask.shape).ravel(), minlength=count + 1)
    sy = np.bincount(lab, weights=np.broadcast_to(yy, mask.shape).ravel(), minlength=count + 1)
    img = np.zeros(count + 1, dtype=np.int64)
    img[lab] = np.repeat(np.arange(mask.shape[0]), h * w)
    keep = np.arange(count + 1) > 0
    keep &= area >= MIN_AREA
    a = area[keep]
    return {"image": img[keep], "area": a, "x": sx[keep] / a, "y": sy[keep] / a}


def _size_slope(comp: dict[str, np.ndarray], n: int) -> np.ndarray:
    """tau from the least-squares rank-size slope of each image's fragments (NaN if < 3)."""
    order = np.lexsort((-comp["area"], comp["image"]))
    img, area = comp["image"][order], comp["area"][order]
    counts = np.bincount(img, minlength=n)
    first = np.cumsum(counts) - counts
    rank = np.arange(len(img)) - first[img] + 1
    x, y = np.log(rank), np.log(area)
    def per(v: np.ndarray) -> np.ndarray:
        return np.bincount(img, weights=v, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx, my = per(x) / counts, per(y) / counts
        sxy = per(x * y) - counts * mx * my
        sxx = per(x * x) - counts * mx * mx
        slope = sxy / sxx
        tau = 1.0 - 1.0 / slope
    return np.where((counts >= 3) & (slope < 0), tau, np.nan)


def _impact(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the crack star converges: the peak of the blurred crack density (pixel x, y).

    Cracks are the gaps inside the pane's bounding box; the radial ones meet at the impact,
    and in flight the hole the innermost ring leaves is there too.
    """
    n, h, w = mask.shape
    rows, cols = np.asarray(mask.any(axis=2)), np.asarray(mask.any(axis=1))
    inside = rows[:, :, None] & cols[:, None, :]
    gaps = (inside & ~mask).astype(np.float64)
    win = max(3, h // 6)
    density = ndimage.uniform_filter(gaps, size=(1, win, win), mode="constant")
    flat = np.argmax(density.reshape(n, -1), axis=1)
    return (flat % w).astype(np.float64), (flat // w).astype(np.float64)


def _asymmetry(comp: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Mean resultant length of directions from the estimated impact to the fragments."""
    n = mask.shape[0]
    img = comp["image"]
    counts = np.bincount(img, minlength=n)
    ix, iy = _impact(mask)
    dx, dy = comp["x"] - ix[img], comp["y"] - iy[img]
    r = np.maximum(np.hypot(dx, dy), 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_x = np.bincount(img, weights=dx / r, minlength=n) / counts
        mean_y = np.bincount(img, weights=dy / r, minlength=n) / counts
    return np.where(counts >= 2, np.hypot(mean_x, mean_y), 0.0)


def _moments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pane area (fraction), centroid (x, y in half-widths) and polar moment about it."""
    h, w = mask.shape[1:]
    ys = ((np.arange(h) + 0.5) * 2 / h - 1)[None, :, None]
    xs = ((np.arange(w) + 0.5) * 2 / w - 1)[None, None, :]
    m = mask.astype(np.float64)
    area = m.sum(axis=(1, 2))
    safe = np.maximum(area, 1.0)
    cx = (m * xs).sum(axis=(1, 2)) / safe
    cy = (m * ys).sum(axis=(1, 2)) / safe
    inertia = (m * (xs ** 2 + ys ** 2)).sum(axis=(1, 2)) / safe - cx ** 2 - cy ** 2
    return area / (h * w), np.stack([cx, cy], axis=1), inertia


def _symmetry(lum: np.ndarray) -> np.ndarray:
    z = lum - lum.mean(axis=(1, 2), keepdims=True)
    var = (z * z).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = (z * z[:, :, ::-1]).sum(axis=(1, 2)) / var
        ud = (z * z[:, ::-1, :]).sum(axis=(1, 2)) / var
    return np.clip(np.nan_to_num(np.maximum(lr, ud), nan=1.0), 0.0, 1.0)


def _clarity(lum: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.float64)
    n1 = m.sum(axis=(1, 2))
    n0 = m[0].size - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        mu1 = (lum * m).sum(axis=(1, 2)) / n1
        mu0 = (lum * (1 - m)).sum(axis=(1, 2)) / n0
        v1 = ((lum - mu1[:, None, None]) ** 2 * m).sum(axis=(1, 2)) / n1
        v0 = ((lum - mu0[:, None, None]) ** 2 * (1 - m)).sum(axis=(1, 2)) / n0
        f = (mu1 - mu0) ** 2 / (v0 + v1)
    return np.where((n1 > 0) & (n0 > 0), f / (1 + f), 0.0)


def measure_images(images: np.ndarray) -> dict[str, np.ndarray]:
    """Every axis of :data:`rewardshift.images.scenes.AXES` from pixels, each float64 ``(N,)``.

    Parameters
    ----------
    images : uint8 array (N, H, W, 3).

    Returns
    -------
    dict with the physical axes ``fragment_count``, ``size_slope`` (NaN with fewer than three
    fragments), ``asymmetry``, ``progress`` and the perceptual ``symmetry``, ``contrast``,
    ``clarity``, ``centredness`` (see the module docstring for each formula).
    """
    lum = luminance(images)
    n = lum.shape[0]
    mask = lum > _otsu(lum)[:, None, None]
    comp = _components(mask)
    area, centroid, inertia = _moments(mask)
    with np.errstate(divide="ignore"):
        progress = np.log(np.maximum(inertia, 1e-12) / np.maximum(area, 1e-6) ** 2)
    return {
        "fragment_count": np.bincount(comp["image"], minlength=n).astype(np.float64),
        "size_slope": _size_slope(comp, n),
        "asymmetry": _asymmetry(comp, mask),
        "progress": progress,
        "symmetry": _symmetry(lum),
        "contrast": lum.std(axis=(1, 2)),
        "clarity": _clarity(lum, mask),
        "centredness": 1.0 - np.hypot(centroid[:, 0], centroid[:, 1]) / math.sqrt(2.0),
    }
