"""The report of ``rewardshift prefs``: the verdicts, the typicality figure, the rows left out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rewardshift.prefs import BadRow, PrefsAudit
from rewardshift.report.figures import save_figures
from rewardshift.report.kit import html_image, html_paragraph, html_table, render_document
from rewardshift.rundir import RunDir

__all__ = ["alpha_figure", "write_prefs_report"]


def alpha_figure(audit: PrefsAudit) -> Figure:
    """The chosen share against d log π_base, in deciles, with the fitted logistic curve."""
    f = audit.frame
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    edges = np.quantile(f["d_log_ref"], np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(edges, f["d_log_ref"], side="right") - 1, 0, 9)
    xs = [f["d_log_ref"][idx == i].mean() for i in range(10) if np.any(idx == i)]
    ys = [f["label"][idx == i].mean() for i in range(10) if np.any(idx == i)]
    ax.plot(xs, ys, "o", label="pairs, binned by d log π_base")
    if audit.alpha.get("value") is not None:
        grid = np.linspace(edges[0], edges[-1], 200)
        ax.plot(grid, 1 / (1 + np.exp(-audit.alpha["value"] * grid)), label="fitted α")
    ax.set_xlabel("log π_base(a) − log π_base(b)  (nats)")
    ax.set_ylabel("share where a was chosen")
    ax.axhline(0.5, color="#999999", lw=0.8)
    ax.legend()
    fig.tight_layout()
    return fig


def write_prefs_report(rd: RunDir, audit: PrefsAudit, *, config: dict[str, Any],
                       bad_rows: Sequence[BadRow] = ()) -> Path:
    """Write ``figures/alpha.*`` and ``report.html`` into ``rd``; return the report's path."""
    png = save_figures(rd, {"alpha": alpha_figure(audit)})
    blocks = [html_paragraph(v) for v in audit.verdicts]
    blocks += [html_paragraph(n, css_class="meta") for n in audit.notes]
    blocks.append(html_image("alpha", png["alpha"],
                             caption="Typicality: chosen share against the base model's "
                                     "log-probability difference"))
    sections = [("Verdicts", blocks)]
    if bad_rows:
        sections.append(("Rows left out", [html_table(
            ["line", "field", "problem"], [[b.line, b.field or "", b.message] for b in bad_rows])]))
    return rd.write_text("report.html", render_document("rewardshift prefs", sections,
                                                        config=config))
