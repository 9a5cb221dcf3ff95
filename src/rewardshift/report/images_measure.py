"""The report of ``rewardshift measure`` on image folders: measures with CIs, the comparison,
and a grid of the first images of each set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift.report.figures import save_figures
from rewardshift.report.images_run import grid_figure
from rewardshift.report.kit import (
    SafeHTML,
    fmt_value,
    html_image,
    html_paragraph,
    html_table,
    render_document,
)
from rewardshift.rundir import RunDir

__all__ = ["fmt_ci", "write_images_measure_report"]


def fmt_ci(entry: Mapping[str, Any] | None) -> str:
    """``value [lo, hi]`` of a measure entry; ``—`` without a value."""
    if not entry or entry.get("value") is None:
        return "—"
    ci = entry.get("ci")
    return fmt_value(entry["value"]) + (f" [{fmt_value(ci[0])}, {fmt_value(ci[1])}]"
                                        if ci else "")


def _tables(summary: Mapping[str, Any]) -> list[SafeHTML]:
    sets = summary["sets"]
    names = list(sets)
    comp = summary.get("comparison")
    measures = list(dict.fromkeys(m for s in sets.values() for m in s["measures"]))
    cols = ["measure", "kind", *[f"{n} [95% CI]" for n in names]]
    if comp:
        cols += ["change", "p", "verdict"]
    rows = []
    for m in measures:
        kind = next(s["measures"][m]["kind"] for s in sets.values() if m in s["measures"])
        row = [m, kind, *[fmt_ci(sets[n]["measures"].get(m)) for n in names]]
        if comp:
            c = comp["measures"].get(m) or {}
            row += [fmt_value(c.get("change")), fmt_value(c.get("p_value")),
                    c.get("verdict", "")]
        rows.append(row)
    blocks = [html_table(cols, rows, caption="per set: mean over images (pixel measures) or "
                                             "set statistic (diversity)")]
    if comp and comp["between"]:
        blocks.append(html_table(["measure", f"{comp['tuned']} against {comp['base']} [95% CI]"],
                                 [[m, fmt_ci(e)] for m, e in comp["between"].items()],
                                 caption="between the sets"))
    return blocks


def write_images_measure_report(rd: RunDir, summary: Mapping[str, Any],
                                sets: Mapping[str, np.ndarray], *,
                                config: Mapping[str, Any],
                                title: str = "rewardshift: image measures") -> Path:
    """Write ``figures/grid.*`` and ``report.html`` into ``rd``; return the report's path."""
    png = save_figures(rd, {"grid": grid_figure(dict(sets), title="The first images of each "
                                                                  "set, in file order")})
    sizes = ", ".join(f"{n}: {s['n_images']} images of {s['width']}x{s['height']}"
                      for n, s in summary["sets"].items())
    lead = [html_paragraph(sizes)]
    for path, why in summary.get("skipped_files", []):
        lead.append(html_paragraph(f"skipped {path}: {why}", css_class="meta"))
    sections: list[tuple[str, list[SafeHTML]]] = [
        ("Sets", lead), ("Measures", _tables(summary)),
        ("Images", [html_image("grid", png["grid"])]),
        ("Definitions", [html_paragraph(f"{k}: {v}")
                         for k, v in summary.get("definitions", {}).items()])]
    html = render_document(title, sections, config=config)
    return rd.write_text("report.html", html)
