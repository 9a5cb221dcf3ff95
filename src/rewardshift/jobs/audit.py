"""The audit job: :func:`rewardshift.audit.run_audit` → run directory → report.

``config.json`` is written first (what was asked), ``samples.parquet``, ``figures/`` and
``report.html`` next, ``summary.json`` last: its presence marks a finished audit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rewardshift._exceptions import InputError
from rewardshift.audit import AuditConfig, AuditResult, prompt_rows, run_audit
from rewardshift.jobs.base import claim_run_dir
from rewardshift.progress import Progress
from rewardshift.report.audit_run import write_audit_report
from rewardshift.samples import atomic_write

__all__ = ["audit_job", "export_prompts"]


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


def export_prompts(probes: tuple[str, ...], out: str | os.PathLike[str], *, n: int = 16,
                   seed: int = 0) -> list[Path]:
    """Write ``<out>/<probe>.jsonl`` for each probe: the prompts to generate with any tool.

    Each line is one prompt (:func:`rewardshift.audit.prompt_rows`). Generate ``n`` samples
    per ``prompt_id`` (one sample per line, ``{"prompt_id", "prompt", "text"}``), put every
    probe's samples of one model in one file, and audit with the JSONL backend.
    """
    from rewardshift.probes import PROBES

    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        raise InputError(f"probes: unknown {unknown}; choose from {sorted(PROBES)}",
                         option="probes")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = AuditConfig(base="-", tuned="--", backend="jsonl", probes=probes, n=n, seed=seed,
                      embed=False)
    paths = []
    for name in probes:
        path = out / f"{name}.jsonl"
        with atomic_write(path) as fh:
            for row in prompt_rows(name, PROBES[name](embed=False), cfg):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths
