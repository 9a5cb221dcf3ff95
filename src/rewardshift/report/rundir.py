"""Deprecated alias: the run directory moved to :mod:`rewardshift.rundir` (removed in 0.3)."""

import warnings

from rewardshift.rundir import RunDir, figure_to_png, figure_to_svg, redact_secrets, to_json_ready

warnings.warn("rewardshift.report.rundir moved to rewardshift.rundir", DeprecationWarning,
              stacklevel=2)

__all__ = ["RunDir", "figure_to_png", "figure_to_svg", "redact_secrets", "to_json_ready"]
