"""Figures of the RLHF laboratory: over-optimisation, per-axis shift, category histograms.

Plain arrays in, :class:`matplotlib.figure.Figure` out (no pyplot, no global state); the same
house style as :mod:`rewardshift.report.figures` (Okabe–Ito: base blue, tuned orange).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rewardshift.report.kit import BASE_COLOR, OKABE_ITO, TUNED_COLOR

__all__ = ["axis_shift_figure", "category_figure", "overoptimization_figure"]

PROXY_COLOR = OKABE_ITO["sky"]
GOLD_COLOR = OKABE_ITO["vermillion"]


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def overoptimization_figure(curves: Mapping[str, Mapping[str, np.ndarray]], *,
                            fits: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
                            peaks: Mapping[str, tuple[float, float]] | None = None,
                            title: str = "Over-optimisation: proxy and gold reward vs √KL"
                            ) -> Figure:
    """One panel per optimiser (e.g. "KL tilt", "best-of-n"): proxy and gold vs d = √KL.

    ``curves[name]`` holds arrays ``d``, ``proxy``, ``gold`` (rewards relative to the base);
    ``fits[name]`` the fitted gold curve R(d) (Gao et al. 2022) and ``peaks[name]`` its
    (d*, R*), marked on the panel.
    """
    names = list(curves)
    fig = Figure(figsize=(5.2 * len(names), 4.0), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        c = curves[name]
        d = np.asarray(c["d"])
        ax.plot(d, c["proxy"], color=PROXY_COLOR, lw=2, label="proxy (reward model)")
        ax.plot(d, c["gold"], "o", color=GOLD_COLOR, ms=3.5, label="gold (ground truth)")
        if fits and name in fits:
            grid = np.linspace(max(d.min(), 1e-6), d.max(), 200)
            ax.plot(grid, fits[name](grid), "--", color=GOLD_COLOR, lw=1.3, label="gold fit")
        if peaks and name in peaks and np.isfinite(peaks[name][0]):
            dp, rp = peaks[name]
            if d.min() <= dp <= d.max():
                ax.axvline(dp, color="#888", lw=0.8, ls=":")
                ax.annotate(f"peak d*={dp:.2f}", (dp, rp), textcoords="offset points",
                            xytext=(6, 6), fontsize=8, color="#555")
        ax.axhline(0, color="#bbb", lw=0.8)
        ax.set_title(name, fontsize=11, fontweight="bold")
        ax.set_xlabel("d = √KL(π‖π_ref)  (nats^½)")
        ax.set_ylabel("reward gain over the base")
        _style(ax)
    axes[0].legend(fontsize=8, frameon=False, loc="upper left")
    fig.suptitle(title, fontsize=12)
    return fig


def axis_shift_figure(rows: Sequence[Mapping[str, Any]], *,
                      title: str = "Per-axis shift of the tuned policy") -> Figure:
    """Variance ratio tuned/base and standardised mean shift per axis, physical vs perceptual.

    Each row: ``axis``, ``kind`` ("physical" | "perceptual"), ``variance_ratio``,
    ``mean_shift_sd`` (mean shift in base standard deviations).
    """
    rows = list(rows)
    labels = [str(r["axis"]) for r in rows]
    colors = [TUNED_COLOR if r["kind"] == "perceptual" else BASE_COLOR for r in rows]
    y = np.arange(len(rows))
    fig = Figure(figsize=(10, 0.45 * len(rows) + 1.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    ax1.barh(y, [float(r["variance_ratio"]) for r in rows], color=colors)
    ax1.axvline(1.0, color="#555", lw=1)
    ax1.set_xlabel("variance tuned / base  (1 = unchanged)")
    ax2.barh(y, [float(r["mean_shift_sd"]) for r in rows], color=colors)
    ax2.axvline(0.0, color="#555", lw=1)
    ax2.set_xlabel("mean shift (base standard deviations)")
    ax1.set_yticks(y, labels)
    ax1.invert_yaxis()
    for ax in (ax1, ax2):
        _style(ax)
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=TUNED_COLOR, label="perceptual (what raters see)"),
                        Patch(color=BASE_COLOR, label="physical (the ground truth)")],
               loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def category_figure(dists: Mapping[str, Mapping[str, float]], *, field: str,
                    max_categories: int = 20) -> Figure:
    """Grouped bars: the share of each category under truth, base and tuned (say)."""
    names = list(dists)
    first = dists[names[0]]
    cats = sorted(first, key=lambda k: -first[k])[:max_categories]
    x = np.arange(len(cats))
    width = 0.8 / len(names)
    palette = ["#999999", BASE_COLOR, TUNED_COLOR, OKABE_ITO["green"], OKABE_ITO["purple"]]
    fig = Figure(figsize=(max(6.0, 0.45 * len(cats) + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    for i, name in enumerate(names):
        ax.bar(x + (i - (len(names) - 1) / 2) * width, [dists[name].get(c, 0.0) for c in cats],
               width, label=name, color=palette[i % len(palette)])
    ax.set_xticks(x, cats, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share")
    ax.set_title(f"{field}: share of each category", fontsize=12)
    ax.legend(frameon=False, fontsize=9)
    _style(ax)
    return fig
