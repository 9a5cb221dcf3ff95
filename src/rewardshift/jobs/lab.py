"""The lab job: :func:`rewardshift.lab.run.run_lab` → run directory → report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rewardshift.lab.run import LabConfig, LabResult, run_lab
from rewardshift.progress import Progress
from rewardshift.report.lab_run import write_lab_report
from rewardshift.rundir import RunDir

__all__ = ["lab_job", "run_lab_job", "write_lab_run"]


def write_lab_run(result: LabResult, out: str | Path, *, config: dict[str, Any],
                  seed: int = 0) -> Path:
    """Write config.json, metrics.jsonl, figures/, report.html and, last, summary.json."""
    out = Path(out)
    run = RunDir.create(out.parent, out.name)
    run.write_config(config, seeds={"lab": int(config.get("seed", seed))})
    run.append_metrics(result.records)
    report = write_lab_report(run, result, config=config, seed=seed)
    run.write_json("summary.json", result.summary)
    return report


def run_lab_job(config: LabConfig, out: str | Path, *, progress: Progress | None = None
                ) -> tuple[LabResult, Path]:
    """One laboratory run into ``out``; returns the result and the report's path."""
    result = run_lab(config, progress=progress)
    report = write_lab_run(result, out, config={"job": "lab", **asdict(config)},
                           seed=config.seed)
    return result, report


def lab_job(config: Mapping[str, Any], run_dir: str) -> dict[str, Any]:
    """Sweep job: run the lab with ``config`` (LabConfig fields) and write ``run_dir``."""
    result = run_lab(LabConfig.from_dict(config))
    write_lab_run(result, Path(run_dir), config=dict(config))
    return result.summary
