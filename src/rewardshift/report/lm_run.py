"""Report of an ``lm run`` (placeholder being replaced by the full report)."""

from __future__ import annotations

from typing import Any

from rewardshift.report.html import html_paragraph, render_document


def write_lm_report(rd, summary: dict[str, Any]) -> None:
    rd.write_text("report.html", render_document("lm run", [("lm run", [html_paragraph("lm run")])]))
