"""A vectorised renderer of breakage scenes: numpy rasterisation, anti-aliased, deterministic.

Geometry (image coordinates ``x, y`` in ``[-1, 1]``, ``y`` pointing down; the pane is the
square of half-width :data:`PANE` at the centre):

* the crack pattern is polar about the impact point: ``radial_cracks`` wedges whose angles are
  bunched towards ``skew_phi`` by the asymmetry (the circle map ``tan(b/2) = c tan(u/2)``,
  ``c = (1 - 0.7 a) / (1 + 0.7 a)``: narrow wedges downstream, wide ones upstream), cut by
  ``rings`` concentric cracks whose radii give fragment areas the power law ``n(s) ~
  s^(-tau)`` (the ``k``-th largest ring has cell area ``~ (k + 1/2)^(-1/(tau - 1))``), each
  boundary jittered from ``pattern``;
* in flight, each fragment moves rigidly outward along its wedge by ``progress * SPEED *
  (1 + a cos(wedge - skew)) * r_mid`` (a homologous burst, faster downstream), and the whole
  debris falls by ``DROP * progress^2``;
* cracks are :data:`CRACK_PX` pixels wide; every edge is anti-aliased by its signed distance.

Colours: background ``light - 0.35 contrast`` tinted by ``hue`` with a smooth texture of
amplitude ``0.22 clutter``; the pane ``light + 0.35 contrast``, faintly blue, each fragment
shaded by its tilt (more in flight).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.images.scenes import Scenes

__all__ = ["CRACK_PX", "DROP", "PANE", "SPEED", "coverage", "render"]

PANE = 0.6        # pane half-width in image half-widths
SPEED = 1.2        # outward displacement at progress 1, per unit radius
DROP = 0.5         # fall of the debris at progress 1 (image half-widths)
CRACK_PX = 1.2    # crack width in pixels
_JITTER = 0.4     # wedge-boundary jitter, in wedge widths (< 0.5 keeps the order)
_BUNCH = 0.7      # asymmetry -> circle-map strength
_MAX_K, _MAX_M = 16, 8
_PIXELS_PER_CHUNK = 1 << 17


def _hash(*keys: np.ndarray | float) -> np.ndarray:
    """A deterministic pseudo-random number in [0, 1) for each key tuple (shader hash)."""
    s = sum(np.asarray(k, dtype=np.float64) * m
            for k, m in zip(keys, (12.9898, 78.233, 37.719), strict=False))
    return np.modf(np.abs(np.sin(s) * 43758.5453))[0]


def _warp(u: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The circle map ``b = 2 atan(c tan(u / 2))``, extended periodically to any ``u``."""
    m = np.round(u / (2 * math.pi))
    v = u - 2 * math.pi * m
    return 2 * np.arctan(c * np.tan(0.5 * v)) + 2 * math.pi * m


def _unwarp(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return 2 * np.arctan(np.tan(0.5 * b) / c)


def _pattern(s: Scenes) -> dict[str, np.ndarray]:
    """Per-scene crack geometry: wedge edges (B, K+1), ring radii (B, K, M+1), shifts (B, K, M)."""
    n = s.n
    k_n = s.radial_cracks.astype(np.int64)
    m_n = s.rings.astype(np.int64)
    kk = np.arange(_MAX_K + 1)
    jitter = _JITTER * (_hash(s.pattern[:, None], kk % np.maximum(k_n[:, None], 1)) - 0.5)
    edges_t = (kk[None, :] + jitter) / k_n[:, None]            # unwarped, in turns
    c = (1 - _BUNCH * s.asymmetry) / (1 + _BUNCH * s.asymmetry)
    u = 2 * math.pi * (edges_t + s.pattern[:, None]) - math.pi
    edges_b = _warp(u, c[:, None])                            # angle from skew_phi
    mid_b = 0.5 * (edges_b[:, :-1] + edges_b[:, 1:])           # (B, K)
    half_b = 0.5 * (edges_b[:, 1:] - edges_b[:, :-1])
    ix, iy = _impact(s)
    r_max = np.hypot(PANE + np.abs(ix), PANE + np.abs(iy)) * 1.02
    # power-law ring areas: the o-th largest (o = 0 outermost) has weight (o + 1/2)^(-1/(tau-1))
    jj = np.arange(_MAX_M)
    outer_rank = m_n[:, None] - 1 - jj[None, :]
    w = np.where(outer_rank >= 0, (np.abs(outer_rank) + 0.5)
                 ** (-1.0 / (s.size_exponent[:, None] - 1.0)), 0.0)
    frac = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    radii = r_max[:, None] * np.sqrt(np.concatenate([np.zeros((n, 1)), frac], axis=1))
    kq = np.arange(_MAX_K)[:, None]
    jq = np.arange(_MAX_M + 1)[None, :]
    inner = (jq > 0) & (jq < m_n[:, None, None])
    wobble = 1 + 0.25 * (_hash(s.pattern[:, None, None] + 0.5, kq, jq) - 0.5)
    radii = np.sort(np.where(inner, radii[:, None, :] * wobble, radii[:, None, :]), axis=2)
    radii = np.where(jq > m_n[:, None, None], np.inf, radii)   # (B, K, M+1)
    r_mid = 0.5 * (radii[:, :, :-1] + radii[:, :, 1:])
    r_mid = np.where(np.isfinite(r_mid), r_mid, 0.0)
    skew_gain = 1 + s.asymmetry[:, None] * np.cos(mid_b)
    speed = 1 + 0.3 * (_hash(s.pattern[:, None, None] + 0.25, kq, jq[:, :-1]) - 0.5)
    shift = np.maximum.accumulate((s.progress * SPEED)[:, None, None] * skew_gain[:, :, None]
                                  * speed * r_mid, axis=2)
    shade = 1 + 0.35 * (_hash(s.pattern[:, None, None] + 0.75, kq, jq[:, :-1]) - 0.5) \
        * (0.3 + s.progress[:, None, None])
    return {"k": k_n, "c": c, "edges_t": edges_t, "mid_b": mid_b, "half_b": half_b,
            "radii": radii, "shift": shift, "shade": shade, "ix": ix, "iy": iy}


def _impact(s: Scenes) -> tuple[np.ndarray, np.ndarray]:
    return (PANE * s.impact_r * np.cos(s.impact_phi), PANE * s.impact_r * np.sin(s.impact_phi))


def _coverage(s: Scenes, g: dict[str, np.ndarray], size: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Pane coverage in [0, 1] and fragment shade, both (B, size*size) float32."""
    px = 2.0 / size
    half = 0.5 * CRACK_PX * px
    grid = (np.arange(size) + 0.5) * px - 1.0
    gx = np.tile(grid, size)[None, :]
    gy = np.repeat(grid, size)[None, :]
    dx = gx - g["ix"][:, None]
    dy = gy - (DROP * s.progress ** 2)[:, None] - g["iy"][:, None]
    rho = np.hypot(dx, dy)
    beta = np.arctan2(dy, dx) - s.skew_phi[:, None]
    beta = np.mod(beta + math.pi, 2 * math.pi) - math.pi
    t = np.mod((_unwarp(beta, g["c"][:, None]) + math.pi) / (2 * math.pi)
               - s.pattern[:, None], 1.0)
    k_n = g["k"][:, None]
    k0 = np.floor(t * k_n).astype(np.int64)
    e_t = g["edges_t"]
    lo = np.take_along_axis(e_t, k0, axis=1)
    hi = np.take_along_axis(e_t, k0 + 1, axis=1)
    wedge = k0 - (t < lo) + (t >= hi)
    wedge = np.mod(wedge, k_n)
    b_n = np.arange(s.n)[:, None]
    mid = g["mid_b"][b_n, wedge]
    half_w = g["half_b"][b_n, wedge]
    radii = g["radii"][b_n, wedge]                             # (B, P, M+1)
    shift = g["shift"][b_n, wedge]                             # (B, P, M)
    start = radii[..., :-1] + shift
    ring = (start <= rho[..., None]).sum(axis=2) - 1
    ok = ring >= 0
    ring = np.maximum(ring, 0)[..., None]
    r0 = np.take_along_axis(radii[..., :-1], ring, axis=2)[..., 0]
    r1 = np.take_along_axis(radii[..., 1:], ring, axis=2)[..., 0]
    dr = np.take_along_axis(shift, ring, axis=2)[..., 0]
    shade = g["shade"][b_n, wedge, ring[..., 0]]
    d_rad = np.minimum(rho - r0 - dr, r1 + dr - rho)
    rho0 = np.maximum(rho - dr, 1e-9)
    d_beta = np.mod(beta - mid + math.pi, 2 * math.pi) - math.pi
    d_tan = half_w * rho0 - np.abs(d_beta) * rho
    beta0 = mid + d_beta * rho / rho0 + s.skew_phi[:, None]
    x0 = g["ix"][:, None] + rho0 * np.cos(beta0)
    y0 = g["iy"][:, None] + rho0 * np.sin(beta0)
    d_pane = PANE - np.maximum(np.abs(x0), np.abs(y0))
    cov = np.ones_like(rho)
    for d, h in ((d_rad, half), (d_tan, half), (d_pane, 0.0)):
        cov *= np.clip((d - h) / px + 0.5, 0.0, 1.0)
    return np.where(ok, cov, 0.0).astype(np.float32), shade.astype(np.float32)


def _colour(s: Scenes, cov: np.ndarray, shade: np.ndarray, size: int) -> np.ndarray:
    """RGB in [0, 1], (B, P, 3)."""
    grid = (np.arange(size) + 0.5) * (2.0 / size) - 1.0
    gx = np.tile(grid, size)[None, :]
    gy = np.repeat(grid, size)[None, :]
    ph = [2 * math.pi * _hash(s.pattern + 0.1 * i, i)[:, None] for i in range(1, 5)]
    texture = 0.5 * (np.sin(3.1 * gx + ph[0]) * np.sin(2.3 * gy + ph[1])
                     + np.sin(4.7 * (gx + gy) + ph[2]) * np.cos(3.7 * gx - ph[3]))
    bg = (s.light - 0.35 * s.contrast)[:, None] + 0.22 * s.clutter[:, None] * texture
    fg = (s.light + 0.35 * s.contrast)[:, None] * shade
    tint = 0.35 * np.cos(2 * math.pi * (s.hue[:, None] - np.arange(3)[None, :] / 3.0))
    bg_rgb = bg[..., None] * (1 + tint[:, None, :])
    fg_rgb = fg[..., None] * np.array([0.92, 1.0, 1.08])
    c = cov[..., None]
    return bg_rgb * (1 - c) + fg_rgb * c


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise InputError(f"size={size!r}: give a whole number of pixels >= 8 (32 or 64)")
    return int(size)


def _chunks(scenes: Scenes, size: int
            ) -> Iterator[tuple[int, Scenes, np.ndarray, np.ndarray]]:
    chunk = max(1, _PIXELS_PER_CHUNK // (size * size))
    for a in range(0, scenes.n, chunk):
        part = scenes.take(slice(a, a + chunk))
        yield a, part, *_coverage(part, _pattern(part), size)


def coverage(scenes: Scenes, *, size: int = 32) -> np.ndarray:
    """How much of each pixel the pane's fragments cover, float32 ``(N, size, size)`` in [0, 1].

    The exact geometry behind :func:`render`, without colour, texture or quantisation.
    """
    size = _check_size(size)
    out = np.empty((scenes.n, size, size), dtype=np.float32)
    for a, part, cov, _ in _chunks(scenes, size):
        out[a:a + part.n] = cov.reshape(part.n, size, size)
    return out


def render(scenes: Scenes, *, size: int = 32) -> np.ndarray:
    """Render scenes to ``uint8`` RGB frames ``(N, size, size, 3)``; deterministic in the scenes.

    Parameters
    ----------
    scenes : Scenes
    size : int, 32 or 64 (any size >= 8 works; the crack width stays :data:`CRACK_PX` pixels).
    """
    size = _check_size(size)
    out = np.empty((scenes.n, size, size, 3), dtype=np.uint8)
    for a, part, cov, shade in _chunks(scenes, size):
        rgb = _colour(part, cov, shade, size)
        out[a:a + part.n] = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8).reshape(
            part.n, size, size, 3)
    return out
