"""Report figures: matplotlib figures and their PNG / SVG renderings.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot, so no
display, no backend switch and no global figure registry are involved; rendering uses the Agg
canvas. House style: white background, Okabe-Ito colour-blind-safe palette (base blue, tuned
orange), light grid, no top/right spines, and every title says what is shown and which way is
more diverse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from rewardshift._exceptions import InputError
from rewardshift.report.kit import (
    VERDICT_COLORS,
    direction_arrow,
    display_name,
    fmt_comparison_p,
    fmt_p,
    fmt_value,
    is_number,
    metric_rows,
    source_colors,
)
from rewardshift.rundir import figure_to_png, figure_to_svg

__all__ = [
    "distribution_figure",
    "embedding_map_figure",
    "figure_to_png",
    "figure_to_svg",
    "metric_comparison_figure",
    "save_figures",
    "summary_figures",
]

_GRID = "#e6e6e6"
_MUTED = "#6b6b6b"
_ACROSS_BG = "#f3f6fa"
_NCOLS = 4
_PANEL_W, _PANEL_H = 2.9, 2.45  # inches


def _short(text: str, n: int = 14) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _style(ax: Any, *, grid_axis: str = "y") -> None:
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9a9a9a")
    ax.tick_params(colors="#333333", labelsize=8.5, length=3)
    if grid_axis:
        ax.grid(axis=grid_axis, color=_GRID, linewidth=0.8)
        ax.set_axisbelow(True)


def _colors_for(summary: Mapping[str, Any]) -> dict[str, str]:
    comp = summary.get("comparison") or {}
    return source_colors(list(summary.get("sources") or {}), base=comp.get("base"),
                         tuned=comp.get("tuned"))


# --------------------------------------------------------------------------- metric panels


def metric_comparison_figure(summary: Mapping[str, Any]) -> Figure:
    """One small panel per metric: each source's value with its 95% CI.

    Per-input metrics come first, across-input metrics after them in a tinted block headed
    "Across inputs". The y-axis label says which way is more diverse; a panel's subtitle gives
    the comparison's p-value and verdict (coloured: vermillion = less diverse, green = more).
    """
    rows = metric_rows(summary)
    sources = list(summary.get("sources") or {})
    colors = _colors_for(summary)
    if not rows or not sources:
        return _empty_figure("No metrics to show")
    groups = [[r for r in rows if r[1]], [r for r in rows if not r[1]]]
    groups = [g for g in groups if g]
    ncols = min(_NCOLS, max(len(g) for g in groups))
    nrows = [math.ceil(len(g) / ncols) for g in groups]
    fig = Figure(figsize=(ncols * _PANEL_W, sum(nrows) * _PANEL_H + 0.55 * len(groups) + 0.8),
                 layout="constrained", facecolor="white")
    subfigs = fig.subfigures(len(groups), 1, height_ratios=[n * _PANEL_H + 0.55 for n in nrows],
                             squeeze=False)[:, 0]
    for sub, group, n in zip(subfigs, groups, nrows, strict=True):
        per_input = group[0][1]
        sub.set_facecolor("white" if per_input else _ACROSS_BG)
        header = ("Per input: diversity among the samples of one prompt, averaged over prompts"
                  if per_input else "Across inputs: diversity of all samples pooled")
        sub.suptitle(header, x=0.01, ha="left", fontsize=10.5, color="#333333")
        axes = sub.subplots(n, ncols, squeeze=False)
        for ax, (name, pin, direction) in zip(axes.flat, group, strict=False):
            _metric_panel(ax, summary, name, pin, direction, sources, colors)
        for ax in list(axes.flat)[len(group):]:
            ax.set_visible(False)
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[s], label=s)
               for s in sources]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(sources), 6),
               frameon=False, fontsize=9.5,
               title="Diversity metrics by source: point = estimate, bar = 95% CI, "
                     "y-axis arrow = direction of more diversity",
               title_fontproperties={"weight": "bold", "size": 11.5})
    return fig


def _metric_panel(ax: Any, summary: Mapping[str, Any], name: str, per_input: bool,
                  direction: str, sources: Sequence[str], colors: Mapping[str, str]) -> None:
    _style(ax)
    xs = np.arange(len(sources))
    points: dict[str, float] = {}
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for x, src in zip(xs, sources, strict=True):
        m = ((summary["sources"][src] or {}).get("metrics") or {}).get(name) or {}
        v = m.get("value")
        if not is_number(v):
            ax.text(x, 0.5, "n/a", transform=trans, ha="center", va="center", fontsize=8.5,
                    color=_MUTED)
            continue
        points[src] = v
        ci = m.get("ci")
        yerr = None
        if ci and len(ci) == 2 and all(is_number(c) for c in ci):
            yerr = [[max(v - ci[0], 0.0)], [max(ci[1] - v, 0.0)]]
        ax.errorbar([x], [v], yerr=yerr, fmt="o", color=colors[src], ms=6.5, capsize=4,
                    elinewidth=1.6, capthick=1.6, zorder=3)
    comp = summary.get("comparison") or {}
    c = (comp.get("metrics") or {}).get(name)
    if c and comp.get("base") in points and comp.get("tuned") in points:
        i, j = sources.index(comp["base"]), sources.index(comp["tuned"])
        ax.plot([i, j], [points[comp["base"]], points[comp["tuned"]]], color="#b0b0b0",
                linewidth=1, linestyle="--", zorder=2)
    ax.set_xticks(xs, [_short(s) for s in sources], rotation=0 if len(sources) <= 3 else 30,
                  ha="center" if len(sources) <= 3 else "right")
    ax.set_xlim(-0.6, len(sources) - 0.4)
    if not points:
        ax.set_yticks([])
    else:
        ax.margins(y=0.2)
    ax.set_ylabel(direction_arrow(direction), fontsize=8.5, color=_MUTED)
    ax.set_title(display_name(name, per_input), fontsize=10, fontweight="bold", pad=15,
                 color="#1d1d1f")
    if c:
        verdict = c.get("verdict") or "no significant change"
        sub = f"{fmt_comparison_p(c)} · {verdict}"
        color = VERDICT_COLORS.get(verdict, _MUTED)
    else:
        sub, color = ("per input" if per_input else "across inputs"), _MUTED
    ax.text(0.5, 1.02, sub, transform=ax.transAxes, ha="center", va="bottom", fontsize=8.5,
            color=color)


def _empty_figure(message: str) -> Figure:
    fig = Figure(figsize=(6, 1.5), facecolor="white")
    fig.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color=_MUTED)
    return fig


# --------------------------------------------------------------------------- embedding map


def embedding_map_figure(coords: Any, labels: Sequence[str], *,
                         title: str = "Samples in embedding space (2-D projection): "
                                      "wider spread = more diverse",
                         colors: Mapping[str, str] | None = None) -> Figure:
    """Scatter of 2-D coordinates coloured by source, with a legend.

    Points are drawn in one fixed pseudo-random order (seed 0), so no source hides another
    and the figure is the same on every call.

    Parameters
    ----------
    coords : array of shape (n, 2)
        Projected embeddings (PCA, UMAP, ...).
    labels : sequence of str, length n
        The source of each point.
    colors : dict, optional
        Source → colour; by default the first source is blue, the second orange.

    Raises
    ------
    InputError
        if ``coords`` is not a finite (n, 2) array or ``labels`` has another length.
    """
    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(f"coords has shape {xy.shape}; expected (n, 2): project the "
                         "embeddings to two dimensions first")
    if len(labels) != len(xy):
        raise InputError(f"labels has {len(labels)} entries for {len(xy)} points; give one "
                         "source per point")
    if not np.isfinite(xy).all():
        raise InputError("coords holds NaN or inf; drop those points first")
    labels = [str(s) for s in labels]
    names = list(dict.fromkeys(labels))
    palette = {**source_colors(names), **(colors or {})}
    fig = Figure(figsize=(7.2, 6.0), layout="constrained", facecolor="white")
    ax = fig.add_subplot()
    _style(ax, grid_axis="both")
    if len(xy):
        order = np.random.default_rng(0).permutation(len(xy))
        size = 18 if len(xy) <= 2000 else 7
        ax.scatter(xy[order, 0], xy[order, 1], c=[palette[labels[i]] for i in order], s=size,
                   alpha=0.55, linewidths=0)
        ax.set_aspect("equal", adjustable="datalim")
    counts = {n: labels.count(n) for n in names}
    handles = [Line2D([], [], marker="o", linestyle="", color=palette[n], markersize=7,
                      label=f"{n} (n = {counts[n]:,})") for n in names]
    ax.legend(handles=handles, loc="best", frameon=True, framealpha=0.9, edgecolor=_GRID,
              fontsize=9)
    ax.set_xlabel("component 1", fontsize=9, color=_MUTED)
    ax.set_ylabel("component 2", fontsize=9, color=_MUTED)
    ax.set_title(title, fontsize=11, fontweight="bold", color="#1d1d1f", loc="left")
    return fig


# --------------------------------------------------------------------------- distributions


def distribution_figure(dist_entry: Mapping[str, Any], *, field: str | None = None,
                        max_categories: int = 20) -> Figure:
    """Grouped bars: each source's share of samples per category.

    Categories are sorted by pooled count; beyond ``max_categories`` the rest are one "other"
    bar. The legend gives each source's entropy and support; the subtitle gives JS divergence
    and coverage when the entry has a comparison.
    """
    srcs = dist_entry.get("sources") or {}
    if not srcs:
        return _empty_figure(f"{field or 'distribution'}: no data")
    names = list(srcs)
    counts = {n: dict(srcs[n].get("counts") or {}) for n in names}
    pooled: dict[str, int] = {}
    for c in counts.values():
        for cat, k in c.items():
            pooled[str(cat)] = pooled.get(str(cat), 0) + k
    cats = sorted(pooled, key=lambda c: (-pooled[c], c))
    shown, rest = cats[:max_categories], cats[max_categories:]
    labels = [_short(c, 18) for c in shown] + ([f"other ({len(rest)})"] if rest else [])
    shares = {}
    for n in names:
        total = sum(counts[n].values()) or 1
        row = [counts[n].get(c, 0) / total for c in shown]
        if rest:
            row.append(sum(counts[n].get(c, 0) for c in rest) / total)
        shares[n] = row
    palette = source_colors(names)
    width_in = min(14.0, max(6.5, 0.32 * len(labels) * len(names) + 2.5))
    fig = Figure(figsize=(width_in, 4.4), layout="constrained", facecolor="white")
    ax = fig.add_subplot()
    _style(ax)
    x = np.arange(len(labels))
    bw = 0.8 / len(names)
    for i, n in enumerate(names):
        s = srcs[n]
        label = f"{n}  (entropy {fmt_value(s.get('entropy'))} nats, support {s.get('support', '?')})"
        ax.bar(x - 0.4 + bw * (i + 0.5), shares[n], width=bw, color=palette[n], label=label,
               edgecolor="white", linewidth=0.5)
    rotate = len(labels) > 6 or max(len(lab) for lab in labels) > 8
    ax.set_xticks(x, labels, rotation=35 if rotate else 0, ha="right" if rotate else "center")
    ax.set_ylabel("share of samples", fontsize=9, color=_MUTED)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.legend(frameon=False, fontsize=8.5, loc="upper right")
    comp = dist_entry.get("comparison")
    subtitle = "mass spread over more categories (higher entropy, larger support) = more diverse"
    if comp:
        subtitle += (f"\nJS divergence {fmt_value(comp.get('js'))}, KL {fmt_value(comp.get('kl'))}, "
                     f"χ² {fmt_p(comp.get('chi2_p'))}, coverage {fmt_value(comp.get('coverage'))}")
    ax.set_title(f"{field or 'attribute'}: share of samples per category", fontsize=11,
                 fontweight="bold", loc="left", color="#1d1d1f", pad=30 if comp else 18)
    ax.text(0.0, 1.015, subtitle, transform=ax.transAxes, ha="left", va="bottom", fontsize=8.5,
            color=_MUTED, linespacing=1.4)
    return fig


def summary_figures(summary: Mapping[str, Any]) -> dict[str, Figure]:
    """The default figures of a summary: ``metrics`` and one ``distribution_<FIELD>`` each."""
    figs = {"metrics": metric_comparison_figure(summary)}
    for fld, entry in (summary.get("distributions") or {}).items():
        figs[f"distribution_{fld}"] = distribution_figure(entry, field=fld)
    return figs


def save_figures(run: Any, figures: Mapping[str, Figure]) -> dict[str, bytes]:
    """Write each figure as ``figures/<name>.png`` and ``.svg`` into the run directory ``run``.

    Returns the PNG bytes by name, for the report to embed.
    """
    png: dict[str, bytes] = {}
    for name, fig in figures.items():
        png[name] = figure_to_png(fig)
        run.write_bytes(f"figures/{name}.png", png[name])
        run.write_text(f"figures/{name}.svg", figure_to_svg(fig))
    return png
