"""The lm job: :func:`rewardshift.lm.run.run_lm` into a new run directory, then the report.

The folder must be new or empty (an interrupted lm run leaves partial checkpoints, which are
not resumed); ``summary.json`` is written last and marks the run finished.
"""

from __future__ import annotations

import os
import time

from rewardshift.jobs.base import claim_run_dir
from rewardshift.lm.run import LMConfig, LMResult, run_lm
from rewardshift.progress import Progress, no_progress
from rewardshift.report.lm_run import write_lm_report

__all__ = ["lm_job"]


def lm_job(config: LMConfig, out: str | os.PathLike[str], *,
           progress: Progress | None = None) -> LMResult:
    """Run the tiny-LM world into ``out`` and write its report; returns its result."""
    rd = claim_run_dir(out, "finished lm run", empty=True)
    result = run_lm(config, rd, progress=progress)
    summary = result.summary
    t = time.perf_counter()
    write_lm_report(rd, summary)
    summary["timings"]["report"] = round(time.perf_counter() - t, 2)
    n = len(summary["timings"])
    (progress or no_progress)("lm run: report", n, n)
    rd.write_json("summary.json", summary)
    return result
