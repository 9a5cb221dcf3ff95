"""Drawing the shatter world's frames: one picture per outcome, a grid of base against tuned.

The picture of a frame is a pure function of its features (the drawing's random details are
seeded from their values), so the same outcome always looks the same.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.lab.world import require_features
from rewardshift.lab.worlds.shatter import material_of

if TYPE_CHECKING:  # matplotlib is imported only when drawing
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = ["render", "render_grid"]

_BG = "#1b2330"
_CRACK = "#ffffff"


def _row_rng(row: Mapping[str, float | str]) -> np.random.Generator:
    # the picture of a frame is a pure function of its features: seed from their values
    key = repr(sorted((k, round(float(v), 6) if not isinstance(v, str) else v)
                      for k, v in row.items()))
    return np.random.default_rng(zlib.crc32(key.encode()))


def _shard(rng: np.random.Generator, r: float) -> np.ndarray:
    k = int(rng.integers(3, 7))
    ang = np.sort(rng.random(k)) * 2 * np.pi
    rad = r * (0.55 + 0.45 * rng.random(k))
    return np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])


def render(row: Mapping[str, float | str], ax: Axes) -> Axes:
    """Draw one frame as a stylised 2-D picture (top view of the impacted object).

    Radial cracks run from the impact point (their spread and lengths skew with
    ``asymmetry``), concentric cracks connect them, fragments are polygons with power-law
    sizes (``size_exponent``); fragments in flight are displaced outward with the oblique
    drift and drawn motion-blurred, settled ones crisp; low ``clarity`` adds haze.

    Parameters
    ----------
    row : mapping
        One outcome's features (``WorldSample.row(i)`` or :func:`rows_of`).
    ax : matplotlib Axes
        Where to draw; its limits, ticks and background are set here.
    """
    from matplotlib.patches import Polygon, Rectangle

    require_features(row, ["material", "fragment_count", "size_exponent", "radial_cracks",
                           "asymmetry", "in_flight", "clarity"], "shatter")
    mat, rng = material_of(row), _row_rng(row)
    asym, f = float(row["asymmetry"]), float(row["in_flight"])
    n_frag, n_rad = int(row["fragment_count"]), int(row["radial_cracks"])
    ax.set_facecolor(_BG)
    ax.set_xlim(-1.7, 1.7)
    ax.set_ylim(-1.7, 1.7)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    impact = np.array([-0.35 * asym, 0.1 * asym])
    drift = np.array([1.0, 0.25]) * asym  # oblique impact: tangential momentum downstream
    intact_alpha = 0.85 if n_frag == 0 else 0.35 * (1 - f) + 0.12
    ax.add_patch(Rectangle((-1, -1), 2, 2, facecolor=mat.face, alpha=intact_alpha,
                           edgecolor="none"))
    if n_frag == 0:
        ax.plot(*impact, marker="o", ms=3, color="#555555")
        return ax
    # radial cracks: even star when symmetric, bunched and ragged when oblique
    phis = np.linspace(0, 2 * np.pi, n_rad, endpoint=False) + rng.random() * 2 * np.pi
    rough = asym ** 1.5  # raggedness: a near-normal impact leaves a clean, even star
    phis = phis + 0.9 * rough * rng.standard_normal(n_rad)
    lengths = 1.05 * (1 + 0.6 * asym * np.cos(phis) + 0.25 * rough * rng.standard_normal(n_rad))
    n_ring = 1 + min(3, n_frag // 25)
    ring_pts = []
    for phi, length in zip(phis, lengths, strict=True):
        s = np.linspace(0, max(length, 0.2), 5)
        kink = rough * 0.15 * np.concatenate([[0], np.cumsum(rng.standard_normal(4))])
        xs = impact[0] + s * np.cos(phi) - kink * np.sin(phi)
        ys = impact[1] + s * np.sin(phi) + kink * np.cos(phi)
        ax.plot(xs, ys, color=_CRACK, lw=0.9, alpha=0.9, solid_capstyle="round")
        ring_pts.append([(impact[0] + r * np.cos(phi), impact[1] + r * np.sin(phi))
                         for r in length * (np.arange(1, n_ring + 1) / (n_ring + 1))])
    order = np.argsort(np.mod(phis, 2 * np.pi))
    for j in range(n_ring if n_rad >= 3 else 0):
        pts = np.array([ring_pts[i][j] for i in order])
        ax.add_patch(Polygon(pts, closed=True, fill=False, edgecolor=_CRACK, lw=0.6, alpha=0.7))
    # fragments: sizes from n(s) ~ s^-tau on [s_min, s_max] by inverse CDF
    k = min(n_frag, 45)
    tau = float(row["size_exponent"])
    tau = tau if abs(tau - 1.0) > 1e-6 else 1.0 + 1e-6  # the inverse CDF below needs tau != 1
    s_min, s_max = 0.05, 0.3
    a, b = s_min ** (1 - tau), s_max ** (1 - tau)
    sizes = (a + rng.random(k) * (b - a)) ** (1 / (1 - tau))
    home_phi = rng.random(k) * 2 * np.pi
    home_r = 0.2 + 0.7 * np.sqrt(rng.random(k))
    flying = rng.random(k) < f
    travel = min(-np.log(max(f, 1e-3)), 2.5)  # t / tau: how far the flight has gone
    speed = 0.7 + 0.6 * rng.random(k)
    for i in range(k):
        dirn = np.array([np.cos(home_phi[i]), np.sin(home_phi[i])])
        home = impact + home_r[i] * dirn
        shard = _shard(rng, sizes[i])
        if flying[i]:
            vel = speed[i] * (dirn + 1.4 * drift + 0.5 * asym * rng.standard_normal(2))
            pos = home + (0.3 + 0.3 * travel) * vel
            unit = vel / max(np.linalg.norm(vel), 1e-9)
            streak = 0.35 * speed[i] * unit
            ax.plot([pos[0] - streak[0], pos[0]], [pos[1] - streak[1], pos[1]],
                    color=mat.face, lw=2.5 * sizes[i] / s_max + 0.6, alpha=0.35,
                    solid_capstyle="round")
            for j, alpha in enumerate((0.1, 0.18, 0.28)):
                ax.add_patch(Polygon(shard + pos - (3 - j) * 0.06 * unit, facecolor=mat.face,
                                     alpha=alpha, edgecolor="none"))
            ax.add_patch(Polygon(shard + pos, facecolor=mat.face, alpha=0.8,
                                 edgecolor="white", lw=0.4))
        else:
            pos = home + (0.05 + 0.2 * rng.random()) * (dirn + 1.5 * drift)
            ax.add_patch(Polygon(shard + pos, facecolor=mat.face, alpha=0.95,
                                 edgecolor="#1a1a1a", lw=0.6))
    haze = 0.55 * (1.0 - float(row["clarity"]))
    if haze > 0.02:
        ax.add_patch(Rectangle((-1.7, -1.7), 3.4, 3.4, facecolor="#8c8c8c", alpha=haze,
                               edgecolor="none", zorder=5))
    return ax


def _caption(row: Mapping[str, float | str]) -> str:
    return (f"{material_of(row).name}  {int(row['fragment_count'])} frags  "
            f"{float(row.get('angle', float('nan'))):.0f}\N{DEGREE SIGN}\n"
            f"in flight {float(row['in_flight']):.0%}  asym {float(row['asymmetry']):.2f}")


def render_grid(base_rows: Sequence[Mapping[str, float | str]],
                tuned_rows: Sequence[Mapping[str, float | str]], *,
                titles: tuple[str, str] = ("base policy", "tuned policy"),
                ncols: int = 4, suptitle: str | None = None) -> Figure:
    """Base frames beside tuned frames: one block of ``ncols`` columns for each.

    Parameters
    ----------
    base_rows, tuned_rows : sequence of mappings
        Feature rows to draw (e.g. :func:`rows_of` on draws from each policy).
    titles : (str, str), default ("base policy", "tuned policy")
        Headings of the two blocks (say which beta / optimiser the tuned block is).
    ncols : int, default 4
        Columns per block.
    suptitle : str, optional
        Figure heading.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save with ``fig.savefig`` or the report's ``figure_to_png``.
    """
    from matplotlib.figure import Figure

    if not base_rows or not tuned_rows:
        raise InputError(f"render_grid needs at least one row on each side; got "
                         f"{len(base_rows)} base and {len(tuned_rows)} tuned")
    if ncols < 1:
        raise InputError(f"ncols={ncols!r} must be >= 1")
    if len(titles) != 2:
        raise InputError(f"titles={titles!r} must be two strings: (base heading, tuned heading)")
    nrows = max(math.ceil(len(base_rows) / ncols), math.ceil(len(tuned_rows) / ncols))
    head = 0.45 if suptitle else 0.0
    fig = Figure(figsize=(2 * 1.9 * ncols + 0.3, 2.15 * nrows + 0.5 + head),
                 facecolor="white", layout="constrained")
    body: Figure | SubFigure = fig
    if suptitle:  # two subfigures or more come back as an array
        top, body = cast("np.ndarray",
                         fig.subfigures(2, 1, height_ratios=[head, 2.15 * nrows + 0.5]))
        top.text(0.5, 0.5, suptitle, ha="center", va="center", fontsize=13)
    subfigs = cast("np.ndarray", body.subfigures(1, 2, wspace=0.03))
    for sub, rows, title in zip(subfigs, (base_rows, tuned_rows), titles,
                                strict=True):
        sub.suptitle(title, fontsize=12, fontweight="bold")
        axes = sub.subplots(nrows, ncols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i < len(rows):
                render(rows[i], ax)
                ax.set_title(_caption(rows[i]), fontsize=7, color="#333333")
            else:
                ax.axis("off")
    return fig
