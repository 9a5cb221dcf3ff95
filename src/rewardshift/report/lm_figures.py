"""Figures of an ``lm run``: training curves, over-optimisation, attribute shares, diversity.

Records in (rows of ``metrics.jsonl`` and parts of ``summary.json``, as plain mappings),
:class:`matplotlib.figure.Figure` out: no pyplot, no global state, nothing written. A value a
row lacks (``plausibility`` when nothing is in the grammar, a monitor key when no monitor was
attached) is left out of the plot, never drawn as zero.

House style of :mod:`rewardshift.report.figures`: Okabe-Ito colours (base blue, the tuned run
orange, other runs vermillion / green / sky, best-of-n purple, the exact tilt black), line
styles that differ as well as colours, and titles that say what to look at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rewardshift.report.kit import BASE_COLOR, OKABE_ITO, TUNED_COLOR, is_number

__all__ = [
    "attribute_figure",
    "diversity_kl_figure",
    "overoptimization_figure",
    "run_colors",
    "training_curves_figure",
]

Row = Mapping[str, Any]

TRUTH_COLOR = "#8c8c8c"
BON_COLOR = OKABE_ITO["purple"]
CLOSED_FORM_COLOR = OKABE_ITO["black"]
_RUN_COLORS = (OKABE_ITO["green"], OKABE_ITO["sky"], OKABE_ITO["vermillion"],
               OKABE_ITO["yellow"], "#999999")
_RUN_MARKERS = ("o", "^", "D", "v", "P", "X")
_GRID = "#e6e6e6"
_MUTED = "#6b6b6b"
_SQRT_KL = "√KL(π ‖ π_base)  (nats^½)"


def run_colors(runs: Sequence[str], *, tuned: str | None = None) -> dict[str, str]:
    """A colour per tuning run: ``tuned`` orange, the others green, sky, vermillion, ..."""
    others = iter(_RUN_COLORS)
    return {r: TUNED_COLOR if r == tuned else next(others, "#999999") for r in runs}


def _run_markers(runs: Sequence[str]) -> dict[str, str]:
    """A marker per run, so runs differ in shape as well as colour."""
    return {r: _RUN_MARKERS[i % len(_RUN_MARKERS)] for i, r in enumerate(runs)}


def _plain(text: Any) -> str:
    """``text`` for matplotlib without mathtext: a ``$`` in a name stays a dollar sign."""
    return str(text).replace("$", r"\$")


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9a9a9a")
    ax.tick_params(colors="#333333", labelsize=8.5, length=3)
    ax.grid(True, color=_GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _series(rows: Sequence[Row], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the rows that hold a finite number under both keys."""
    pts = [(float(r[x]), float(r[y])) for r in rows if is_number(r.get(x)) and is_number(r.get(y))]
    if not pts:
        return np.empty(0), np.empty(0)
    arr = np.array(pts)
    return arr[:, 0], arr[:, 1]


def _empty_figure(message: str) -> Figure:
    fig = Figure(figsize=(7, 2.2), facecolor="white")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color=_MUTED)
    return fig


def _not_measured(ax: Any, what: str = "not measured") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color=_MUTED)


# --------------------------------------------------------------------------- training curves

#: (checkpoint key, panel title, y label, keys of the per-step training log, in preference)
_CURVE_PANELS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("proxy", "Proxy reward: what training maximises ↑", "mean proxy reward",
     ("rewards/proxy_rm/mean", "monitor/proxy_mean")),
    ("gold", "Gold reward: what the raters mean ↑", "mean gold reward", ("monitor/gold_mean",)),
    ("sqrt_kl", "Distance from the base", _SQRT_KL, ()),
    ("in_grammar", "Share of completions in the grammar ↑", "share in grammar", ()),
    ("within_distinct_2", "Distinct-2 within a prompt (↑ more diverse)", "distinct-2",
     ("monitor/within_distinct_2",)),
    ("within_self_bleu_4", "Self-BLEU-4 within a prompt (↓ more diverse)", "self-BLEU-4",
     ("monitor/within_self_bleu_4",)),
)


def training_curves_figure(curves: Mapping[str, Sequence[Row]], *,
                           train: Mapping[str, Sequence[Row]] | None = None,
                           alarms: Mapping[str, Sequence[int]] | None = None,
                           parting: Mapping[str, int | None] | None = None,
                           tuned: str | None = None) -> Figure:
    """Proxy, gold, √KL, in-grammar share and within-prompt diversity against the step.

    Parameters
    ----------
    curves : dict of str to list of dict
        Run name → its checkpoint rows (``step`` and the measured values), in step order;
        step 0 is the base. Drawn as thick lines with markers.
    train : dict of str to list of dict, optional
        Run name → its per-step training log (``phase="train"`` rows). Where a panel has a
        logged counterpart (the proxy of the training batch, the monitor's gold and diversity)
        it is drawn thin and faint behind the checkpoints.
    alarms : dict of str to list of int, optional
        Run name → the steps at which the hacking alarm fired: a dashed vertical line.
    parting : dict of str to int or None, optional
        Run name → the step where proxy and gold part (gold past its peak, proxy still rising):
        a dotted vertical line, labelled on the gold panel.
    tuned : str, optional
        The run drawn in orange.
    """
    runs = [r for r in curves if curves[r]]
    if not runs:
        return _empty_figure("No checkpoint was measured: no training curves to draw")
    colors, markers = run_colors(runs, tuned=tuned), _run_markers(runs)
    train, alarms, parting = train or {}, alarms or {}, parting or {}
    fig = Figure(figsize=(12.5, 7.4), layout="constrained", facecolor="white")
    axes = fig.subplots(2, 3, sharex=True).ravel().tolist()
    for ax, (key, title, ylabel, train_keys) in zip(axes, _CURVE_PANELS, strict=True):
        drawn = False
        for run in runs:
            c = colors[run]
            for tk in train_keys:
                xs, ys = _series(train.get(run, ()), "step", tk)
                if len(xs):
                    ax.plot(xs, ys, color=c, lw=1.0, alpha=0.4, zorder=1)
                    break
            xs, ys = _series(curves[run], "step", key)
            if len(xs):
                ax.plot(xs, ys, "-", marker=markers[run], color=c, lw=2.0, ms=5, zorder=3)
                drawn = True
            _mark_steps(ax, alarms.get(run, ()), c, "--", "alarm" if key == "proxy" else None)
            p = parting.get(run)
            _mark_steps(ax, [p] if is_number(p) else (), c, ":",
                        "parting" if key == "gold" else None)
        if key == "in_grammar":
            ax.set_ylim(-0.04, 1.04)
        if not drawn:
            _not_measured(ax)
        ax.set_title(title, fontsize=10.5)
        ax.set_ylabel(ylabel, fontsize=9)
        _style(ax)
    for ax in list(fig.axes)[3:]:
        ax.set_xlabel("training step", fontsize=9)
    handles = [Line2D([], [], color=colors[r], marker=markers[r], lw=2, label=_plain(r))
               for r in runs]
    handles += [Line2D([], [], color=_MUTED, lw=1, alpha=0.5, label="training batch (per step)"),
                Line2D([], [], color=_MUTED, lw=1.2, ls="--", label="alarm fired"),
                Line2D([], [], color=_MUTED, lw=1.5, ls=":", label="proxy and gold part")]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6),
               frameon=False, fontsize=9,
               title="Training: the proxy rises by construction; does the gold follow, does the "
                     "text stay in the grammar, does diversity hold?",
               title_fontproperties={"weight": "bold", "size": 11.5})
    return fig


def _mark_steps(ax: Any, steps: Sequence[Any], color: str, ls: str, label: str | None) -> None:
    for s in steps:
        if not is_number(s):
            continue
        ax.axvline(float(s), color=color, ls=ls, lw=1.3, alpha=0.9, zorder=2)
        if label:
            ax.annotate(f"{label} @{s:g}", (float(s), 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", ha="left", va="top",
                        fontsize=7.5, color=color, rotation=90)


# --------------------------------------------------------------------------- over-optimisation

_OO_PANELS = (("proxy", "Proxy reward vs √KL: rises for every optimiser", "mean proxy reward"),
              ("gold", "Gold reward vs √KL: the one that counts", "mean gold reward"),
              ("in_grammar", "Share in the grammar vs √KL", "share in grammar"))


def overoptimization_figure(curves: Mapping[str, Sequence[Row]], *,
                            best_of_n: Sequence[Row] = (), closed_form: Sequence[Row] = (),
                            tuned: str | None = None, zoom_ratio: float = 2.5) -> Figure:
    """Proxy, gold and in-grammar share against d = √KL, every optimiser on the same axes.

    The axes of Gao, Schulman & Hilton (2022), "Scaling laws for reward model
    over-optimization": reward against the square root of the policy's KL from the base.

    Parameters
    ----------
    curves : dict of str to list of dict
        Run name (GRPO, DPO) → its checkpoint rows (``sqrt_kl``, ``proxy``, ``gold``,
        ``in_grammar``, ``step``) in step order: solid lines with markers, the last point
        labelled with its step.
    best_of_n : list of dict
        Rows with ``n``, ``sqrt_kl``, ``proxy``, ``gold``, ``in_grammar``: dashed, square
        markers, the largest ``n`` labelled.
    closed_form : list of dict
        Rows of the exact KL tilt with ``beta``, ``sqrt_kl``, ``proxy``, ``gold``: a thin
        black line. It lives on the grammar's support, so a row without ``in_grammar`` is drawn
        at share 1 there.
    tuned : str, optional
        The run drawn in orange.
    zoom_ratio : float
        When some run goes more than ``zoom_ratio`` times further in √KL than best-of-n, the
        exact tilt and the tuned run, a second row zooms on the range of those three.
    """
    runs = [r for r in curves if curves[r]]
    if not runs and not best_of_n and not closed_form:
        return _empty_figure("Nothing to show: no checkpoint, best-of-n or closed-form rows")
    series = _oo_series(curves, runs, best_of_n, closed_form, tuned)
    zoom = _zoom_limit(series, tuned, zoom_ratio)
    nrows = 1 if zoom is None else 2
    fig = Figure(figsize=(13.0, 4.4 * nrows + 0.4), layout="constrained", facecolor="white")
    axes = fig.subplots(nrows, 3, squeeze=False)
    for row, xmax in enumerate([None, zoom][:nrows]):
        for ax, (key, title, ylabel) in zip(axes[row], _OO_PANELS, strict=True):
            _oo_panel(ax, key, series)
            if xmax is not None:
                _zoom(ax, key, series, xmax)
                title = f"zoom on √KL ≤ {xmax:.2g}: {title.split(':')[0]}"
            if key == "in_grammar":
                ax.set_ylim(-0.04, 1.04)
            ax.set_title(title, fontsize=10.5)
            ax.set_xlabel("d = " + _SQRT_KL, fontsize=9)
            ax.set_ylabel(ylabel, fontsize=9)
            _style(ax)
    fig.legend(handles=[Line2D([], [], label=_plain(s.label), **s.style) for s in series],
               loc="outside upper center", ncols=min(len(series), 6), frameon=False, fontsize=9,
               title="Over-optimisation (Gao et al. 2022): the proxy keeps rising with √KL; "
                     "where the gold stops rising, the reward model is being exploited",
               title_fontproperties={"weight": "bold", "size": 11.5})
    return fig


@dataclass
class _Series:
    """One optimiser's curve on the over-optimisation axes."""

    name: str
    label: str
    rows: list[Row]
    style: dict[str, Any]
    sort_by_x: bool = False  # the exact tilt: a curve in β, drawn in order of √KL
    end_label: str | None = None  # "step" for runs: label the last point on the gold panel


def _oo_series(curves: Mapping[str, Sequence[Row]], runs: Sequence[str],
               best_of_n: Sequence[Row], closed_form: Sequence[Row], tuned: str | None
               ) -> list[_Series]:
    colors, markers = run_colors(runs, tuned=tuned), _run_markers(runs)
    out = [_Series(r, r, list(curves[r]), {"color": colors[r], "marker": markers[r], "lw": 2.0,
                                           "ms": 5}, end_label="step") for r in runs]
    if best_of_n:
        ns = [r["n"] for r in best_of_n if is_number(r.get("n"))]
        span = f", n = {min(ns):g} … {max(ns):g}" if ns else ""
        out.append(_Series("best-of-n", f"best-of-n (base samples{span})", list(best_of_n),
                           {"color": BON_COLOR, "marker": "s", "ls": "--", "lw": 1.6, "ms": 4.5}))
    if closed_form:
        out.append(_Series("closed-form", "exact KL tilt (closed form, breakage prompt)",
                           [{"in_grammar": 1.0, **r} for r in closed_form],
                           {"color": CLOSED_FORM_COLOR, "lw": 1.3}, sort_by_x=True))
    return out


def _oo_panel(ax: Any, key: str, series: Sequence[_Series]) -> None:
    for s in series:
        xs, ys = _series(s.rows, "sqrt_kl", key)
        if not len(xs):
            continue
        if s.sort_by_x:
            order = np.argsort(xs)
            xs, ys = xs[order], ys[order]
        ax.plot(xs, ys, zorder=2 if s.sort_by_x else 3, **s.style)
        ends = [r for r in s.rows if is_number(r.get("sqrt_kl")) and is_number(r.get(key))]
        if key == "gold" and s.end_label and is_number(ends[-1].get(s.end_label)):
            ax.annotate(f"{s.end_label} {ends[-1][s.end_label]:g}", (xs[-1], ys[-1]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7.5,
                        color=s.style["color"])
        if key == "proxy" and s.name == "best-of-n" and is_number(ends[-1].get("n")):
            ax.annotate(f"n={ends[-1]['n']:g}", (xs[-1], ys[-1]), textcoords="offset points",
                        xytext=(4, 2), fontsize=7.5, color=BON_COLOR)


def _zoom_limit(series: Sequence[_Series], tuned: str | None, ratio: float) -> float | None:
    """The √KL range of best-of-n, the exact tilt and the tuned run, when the others go
    ``ratio`` times further; else None."""
    def reach(s: _Series) -> float:
        xs, _ = _series(s.rows, "sqrt_kl", "sqrt_kl")
        return float(xs.max()) if len(xs) else 0.0

    core = max((reach(s) for s in series if s.name in ("best-of-n", "closed-form", tuned)),
               default=0.0)
    full = max((reach(s) for s in series), default=0.0)
    return 1.08 * core if core > 0 and full > ratio * core else None


def _zoom(ax: Any, key: str, series: Sequence[_Series], xmax: float) -> None:
    """Limit the x-axis to [0, xmax] and the y-axis to the points inside it."""
    ax.set_xlim(-0.03 * xmax, xmax)
    ys = np.concatenate([y[x <= xmax] for x, y in
                         (_series(s.rows, "sqrt_kl", key) for s in series)] or [np.empty(0)])
    if len(ys):
        lo, hi = float(ys.min()), float(ys.max())
        pad = 0.08 * (hi - lo) or 0.1
        ax.set_ylim(lo - pad, hi + pad)


# --------------------------------------------------------------------------- diversity vs KL

_DIV_PANELS = (("within_distinct_2", "Distinct-2 within a prompt (↑ more diverse)", "distinct-2"),
               ("within_self_bleu_4", "Self-BLEU-4 within a prompt (↓ more diverse)",
                "self-BLEU-4"),
               ("across_distinct_2", "Distinct-2 across prompts (↑ more diverse)", "distinct-2"),
               ("across_self_bleu_4", "Self-BLEU-4 across prompts (↓ more diverse)",
                "self-BLEU-4"))


def diversity_kl_figure(curves: Mapping[str, Sequence[Row]], *, base: Row | None = None,
                        tuned: str | None = None) -> Figure:
    """Diversity of each run's checkpoints against √KL, with the base's level as a line.

    ``curves`` as in :func:`overoptimization_figure`; ``base`` is the base policy's row
    (grey dashed line). Self-BLEU: higher = *less* diverse.
    """
    runs = [r for r in curves if curves[r]]
    if not runs:
        return _empty_figure("No checkpoint was measured: no diversity to draw")
    colors, markers = run_colors(runs, tuned=tuned), _run_markers(runs)
    fig = Figure(figsize=(11.0, 6.6), layout="constrained", facecolor="white")
    axes = fig.subplots(2, 2, sharex=True).ravel().tolist()
    for ax, (key, title, ylabel) in zip(axes, _DIV_PANELS, strict=True):
        drawn = False
        for run in runs:
            xs, ys = _series(curves[run], "sqrt_kl", key)
            if len(xs):
                ax.plot(xs, ys, "-", marker=markers[run], color=colors[run], lw=2.0, ms=5,
                        zorder=3)
                drawn = True
        if base is not None and is_number(base.get(key)):
            ax.axhline(float(base[key]), color=BASE_COLOR, ls="--", lw=1.2, zorder=2)
        if not drawn:
            _not_measured(ax)
        ax.set_title(title, fontsize=10.5)
        ax.set_ylabel(ylabel, fontsize=9)
        _style(ax)
    for ax in list(fig.axes)[2:]:
        ax.set_xlabel(_SQRT_KL, fontsize=9)
    handles = [Line2D([], [], color=colors[r], marker=markers[r], lw=2, label=_plain(r))
               for r in runs]
    handles.append(Line2D([], [], color=BASE_COLOR, ls="--", lw=1.2, label="base"))
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6),
               frameon=False, fontsize=9,
               title="Diversity vs distance from the base: does tuning narrow what the model "
                     "writes?", title_fontproperties={"weight": "bold", "size": 11.5})
    return fig


# --------------------------------------------------------------------------- attribute shares


def attribute_figure(kind: str, histograms: Mapping[str, Mapping[str, Mapping[str, Any]]], *,
                     sources: Sequence[str] = ("truth", "base"),
                     labels: Mapping[str, str] | None = None,
                     js: Mapping[str, Mapping[str, float]] | None = None,
                     max_categories: int = 10) -> Figure:
    """Grouped bars: each category's share under the truth and each policy, per attribute.

    Parameters
    ----------
    kind : str
        The kind of text (``"review"``, ``"breakage"``), for the title.
    histograms : dict
        Attribute → source → category → probability or count (``summary["histograms"][kind]``);
        every source is normalised to shares. A policy with no in-grammar completion has no
        counts: its bars are absent and its legend entry says so.
    sources : sequence of str
        The sources to draw, in order: ``"truth"`` grey, ``"base"`` blue, the third orange,
        more in vermillion, green, ...
    labels : dict of str to str, optional
        Display name per source (e.g. ``{"grpo-kl": "tuned: grpo-kl"}``).
    js : dict, optional
        Attribute → source → Jensen-Shannon divergence from the truth (nats), shown in the
        panel's title.
    max_categories : int
        Categories shown per panel (by the truth's order: numbers ascending, else the truth's
        share descending); the rest are pooled into "other".
    """
    attrs = [a for a in histograms if histograms[a]]
    if not attrs:
        return _empty_figure(f"{kind}: no attribute histograms")
    labels = labels or {}
    palette = [TRUTH_COLOR, BASE_COLOR, TUNED_COLOR, *_RUN_COLORS]
    colors = {s: palette[min(i, len(palette) - 1)] for i, s in enumerate(sources)}
    ncols = 2 if len(attrs) > 1 else 1
    nrows = math.ceil(len(attrs) / ncols)
    fig = Figure(figsize=(6.2 * ncols, 3.3 * nrows + 0.9), layout="constrained",
                 facecolor="white")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    totals = {s: sum(_total((histograms[a] or {}).get(s)) for a in attrs) for s in sources}
    drawn = [s for s in sources if totals[s] > 0]  # bars share the width among these
    for ax, attr in zip(axes, attrs, strict=False):
        _attribute_panel(ax, attr, histograms[attr], drawn, colors, (js or {}).get(attr),
                         max_categories)
    for ax in list(axes)[len(attrs):]:
        ax.set_visible(False)
    handles = []
    for s in sources:
        name = labels.get(s, s)
        if s != "truth" and totals[s] == 0:
            name += " (no completion in the grammar)"
        handles.append(Patch(color=colors[s], label=_plain(name)))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False,
               fontsize=9,
               title=f"{_plain(kind)}: share of each category among in-grammar completions; "
                     "bars far from the grey truth = the policy shifted the attribute",
               title_fontproperties={"weight": "bold", "size": 11.5})
    return fig


def _total(counts: Mapping[str, Any] | None) -> float:
    return float(sum(v for v in (counts or {}).values() if is_number(v) and v > 0))


def _category_order(entry: Mapping[str, Mapping[str, Any]], sources: Sequence[str]) -> list[str]:
    """Numbers ascending; otherwise by the truth's share, then the largest policy share."""
    def shares(src: str) -> dict[str, float]:
        counts = entry.get(src) or {}
        tot = _total(counts)
        return {str(c): _share(v, tot) for c, v in counts.items()} if tot else {}

    truth = shares("truth")
    policy: dict[str, float] = {}
    for s in sources:
        for c, v in shares(s).items():
            policy[c] = max(policy.get(c, 0.0), v)
    cats = list(dict.fromkeys([*truth, *policy]))
    numbers = {c: _as_number(c) for c in cats}
    if cats and all(v is not None for v in numbers.values()):
        return sorted(cats, key=lambda c: numbers[c] or 0.0)
    return sorted(cats, key=lambda c: (-truth.get(c, 0.0), -policy.get(c, 0.0), c))


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _attribute_panel(ax: Any, attr: str, entry: Mapping[str, Mapping[str, Any]],
                     sources: Sequence[str], colors: Mapping[str, str],
                     js: Mapping[str, float] | None, max_categories: int) -> None:
    cats = _category_order(entry, sources)
    shown, rest = cats[: max_categories - 1], cats[max_categories - 1:]
    if len(rest) <= 1:
        shown, rest = cats, []
    names = [_plain(c) for c in shown] + ([f"other ({len(rest)})"] if rest else [])
    x = np.arange(len(names))
    width = 0.8 / max(len(sources), 1)
    for i, s in enumerate(sources):
        counts = {str(k): v for k, v in (entry.get(s) or {}).items()}
        tot = _total(counts)
        if tot == 0:
            continue
        shares = [_share(counts.get(c), tot) for c in shown]
        if rest:
            shares.append(sum(_share(counts.get(c), tot) for c in rest))
        ax.bar(x + (i - (len(sources) - 1) / 2) * width, shares, width, color=colors[s],
               zorder=3)
    ax.set_xticks(x, names, rotation=30 if len(names) > 5 else 0,
                  ha="right" if len(names) > 5 else "center", fontsize=8.5)
    ax.set_ylabel("share", fontsize=9)
    title = _plain(attr)
    js_text = ", ".join(f"{_plain(s)} {js[s]:.3f}" for s in sources
                        if js and is_number(js.get(s)))
    if js_text:
        title += f"  (JS from truth: {js_text})"
    ax.set_title(title, fontsize=10)
    _style(ax)
    ax.grid(axis="x", visible=False)


def _share(v: Any, total: float) -> float:
    return float(v) / total if is_number(v) and v > 0 else 0.0
