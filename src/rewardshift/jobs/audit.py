"""The audit job: :func:`rewardshift.audit.run_audit` → run directory → report.

``config.json`` is written first (what was asked), ``samples.parquet``, ``figures/`` and
``report.html`` next, ``summary.json`` last: its presence marks a finished audit.
"""

from __future__ import annotations

import os

from rewardshift.audit import AuditConfig, AuditResult, run_audit
from rewardshift.jobs.base import claim_run_dir
from rewardshift.progress import Progress
from rewardshift.report.audit_run import write_audit_report

__all__ = ["audit_job"]


def audit_job(config: AuditConfig, out: str | os.PathLike[str], *,
              progress: Progress | None = None) -> AuditResult:
    """Run the audit into ``out`` (new, or without a finished audit); return its result."""
    rd = claim_run_dir(out, "finished audit")
    rd.write_config({"audit": config.to_dict()}, seeds={"seed": config.seed})
    result = run_audit(config, progress=progress)
    rd.write_samples(result.samples)
    meta = {k: result.summary[k] for k in ("base", "tuned", "backend", "n", "seed", "timings")}
    write_audit_report(rd, result.results, title="rewardshift audit", meta=meta,
                       samples=result.by_source())
    rd.write_json("summary.json", result.summary)
    return result
