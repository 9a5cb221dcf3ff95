"""The report of ``rewardshift audit``: verdicts first, then one section per probe.

Each probe's section has a figure of every tuned-versus-base comparison (the relative change,
coloured by direction: red where the tuned model is less diverse, green where more, faded
where p >= 0.05), the table of comparisons with effect sizes and p-values, the probe's notes,
and a few samples of each model side by side (escaped). Every string from the data passes
through :mod:`rewardshift.report.html`'s escaping helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift.metrics.stats import HIGHER, LOWER, format_p
from rewardshift.report.figures import figure_to_png
from rewardshift.report.kit import (
    OKABE_ITO,
    SafeHTML,
    html_image,
    html_paragraph,
    html_table,
    render_document,
)

__all__ = ["comparison_figure", "write_audit_report"]

SAMPLES_SHOWN = 4  # per model per probe
_LESS = {HIGHER: -1, LOWER: 1}


def _less_diverse(c: Any) -> bool | None:
    """True when the change makes the tuned model less diverse; None when undirected."""
    sign = _LESS.get(c.direction)
    if sign is None or c.change is None or c.change == 0:
        return None
    return (c.change > 0) == (sign > 0)


def comparison_figure(probe: str, comparisons: Sequence[Any]):
    """Horizontal bars of ``(tuned - base) / |base|`` per comparison (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    rows = [c for c in comparisons if c.relative_change is not None]
    fig = Figure(figsize=(9.0, 0.32 * max(len(rows), 3) + 1.4))
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "no comparison with a base value to scale by", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    labels = [f"{c.metric} ({c.scope.replace('_', '-')})" for c in rows]
    values = np.array([100 * c.relative_change for c in rows])
    colors = []
    for c in rows:
        less = _less_diverse(c)
        color = (OKABE_ITO["vermillion"] if less else OKABE_ITO["green"] if less is False
                 else "#999999")
        colors.append(color)
    alphas = [1.0 if (c.p_value is not None and c.p_value < 0.05) else 0.35 for c in rows]
    y = np.arange(len(rows))[::-1]
    for yi, v, col, a in zip(y, values, colors, alphas, strict=True):
        ax.barh(yi, v, color=col, alpha=a)
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("tuned vs base, relative change (%)")
    ax.set_title(f"{probe}: red = tuned less diverse, green = more; faded = p ≥ 0.05",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _fmt(v: Any) -> Any:
    return "—" if v is None else v


def _comparison_table(comparisons: Sequence[Any]) -> SafeHTML:
    rows = []
    for c in comparisons:
        rel = c.relative_change
        rows.append([c.metric, c.scope.replace("_", "-"), _fmt(c.base), _fmt(c.tuned),
                     "—" if rel is None else f"{100 * rel:+.0f}%",
                     "—" if c.effect_size is None else
                     f"{c.effect_size:.2f} ({c.effect_size_kind})",
                     format_p(c.p_value, prefix=False, missing="—"), c.verdict])
    return html_table(["metric", "scope", "base", "tuned", "change", "effect size", "p",
                       "verdict"], rows)


def _samples(samples: Mapping[str, Sequence[Any]], probe: str) -> list[SafeHTML]:
    blocks: list[SafeHTML] = []
    for src in ("base", "tuned"):
        shown = [s for s in samples.get(src, []) if s.meta.get("probe") == probe]
        if not shown:
            continue
        blocks.append(html_paragraph(f"{src}: first {min(SAMPLES_SHOWN, len(shown))} of "
                                     f"{len(shown)} samples", css_class="meta"))
        for s in shown[:SAMPLES_SHOWN]:
            t = s.meta.get("temperature")
            head = f"[{s.prompt_id}{'' if t is None else f', T={t:g}'}] "
            blocks.append(html_paragraph(head + s.text))
    return blocks


def write_audit_report(rd, results: Mapping[str, Any], *, title: str,
                       meta: Mapping[str, Any],
                       samples: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """Write ``figures/`` and ``report.html`` of an audit; returns the report's path.

    Parameters
    ----------
    rd : RunDir
    results : ``{probe name: ProbeResult}``
    title : the page title.
    meta : models, backend, n, seed, timings (shown in a table).
    samples : optional ``{"base": [Sample], "tuned": [Sample]}`` with ``meta["probe"]`` set,
        a few of which are shown per probe.
    """
    sections: list[tuple[str, list[SafeHTML]]] = []
    verdicts = [html_paragraph(f"{name}: {v}") for name, r in results.items()
                for v in r.verdicts]
    if not verdicts:
        verdicts = [html_paragraph("No verdicts: with one source there is nothing to compare.")]
    verdicts.append(html_paragraph(
        "Each verdict compares the tuned model with the base on the same prompts and seeds; "
        "effect sizes and p-values are in each probe's table (per-input = among the samples "
        "of one prompt, across-input = one sample per prompt).", css_class="meta"))
    sections.append(("Verdicts", verdicts))
    for name, r in results.items():
        blocks: list[SafeHTML] = []
        fig = comparison_figure(name, r.comparisons)
        rd.write_figure(f"{name}_comparisons", fig)
        blocks.append(html_image(f"{name}_comparisons", figure_to_png(fig)))
        if r.comparisons:
            blocks.append(_comparison_table(r.comparisons))
        for note in r.notes:
            blocks.append(html_paragraph(f"Note: {note}", css_class="meta"))
        if samples:
            blocks.extend(_samples(samples, name))
        if r.definitions:
            blocks.append(html_table(["statistic", "definition"],
                                     [[k, v] for k, v in r.definitions.items()]))
        sections.append((f"Probe: {name}", blocks))
    timings = meta.get("timings", {})
    rows = [[k, v] for k, v in meta.items() if k != "timings"]
    rows += [[f"time: {k}", f"{v} s"] for k, v in timings.items()]
    sections.append(("Run", [html_table(["", ""], rows)]))
    html = render_document(title, sections,
                           subtitle=f"base {meta.get('base')} vs tuned {meta.get('tuned')}")
    return rd.write_text("report.html", html)
