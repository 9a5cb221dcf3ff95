"""The report layer: run directory, figures and the self-contained HTML report.

Only this layer (and the CLI) draws: figures use matplotlib's ``Figure`` with the Agg canvas,
never pyplot. Rendering functions return strings or bytes; nothing here prints.
"""

from rewardshift.report.figures import (
    distribution_figure,
    embedding_map_figure,
    figure_to_png,
    figure_to_svg,
    metric_comparison_figure,
    summary_figures,
)
from rewardshift.report.html import render_report
from rewardshift.rundir import RunDir, redact_secrets, to_json_ready

__all__ = [
    "RunDir",
    "distribution_figure",
    "embedding_map_figure",
    "figure_to_png",
    "figure_to_svg",
    "metric_comparison_figure",
    "redact_secrets",
    "render_report",
    "summary_figures",
    "to_json_ready",
]
