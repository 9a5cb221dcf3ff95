"""The real-pair job: make the pair (:func:`rewardshift.realpair.run.make_real_pair`), audit
it with the audit job, write the report; ``summary.json`` last.

Nothing is lost on interruption: running again into the same folder with the same
configuration (``realpair.json``) reuses every finished stage, the audit included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rewardshift.audit import AuditConfig
from rewardshift.jobs.audit import audit_job
from rewardshift.jobs.base import resume_run_dir
from rewardshift.progress import Progress, no_progress
from rewardshift.realpair.run import RealPairConfig, make_real_pair
from rewardshift.report.real_pair import write_real_pair_report

__all__ = ["audit_headline", "peak_rss_gb", "real_pair_job", "run_real_pair"]


def real_pair_job(config: RealPairConfig, out: str | os.PathLike[str], *,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Make the pair and audit it into ``out`` (see :mod:`rewardshift.realpair.run`)."""
    out = Path(out)
    tick = progress or no_progress
    rd = resume_run_dir(out, "real pair", config.to_dict(), saved="realpair.json",
                        config_key="real_pair", seed=config.seed)
    made = make_real_pair(config, out, progress=tick)
    clock = made.clock
    if (out / "audit" / "summary.json").exists():
        audit = rd.read_json("audit/summary.json")
        clock.done("audit", reused=True)
    else:
        import shutil

        shutil.rmtree(out / "audit", ignore_errors=True)
        audit = audit_job(AuditConfig(base=made.base_path, tuned=str(out / "tuned"),
                                      probes=config.probes, n=config.audit_n, seed=config.seed,
                                      max_new_tokens=config.audit_max_new_tokens,
                                      embed=config.embed), out / "audit",
                          progress=lambda stage, done, total: tick(f"audit: {stage}", done,
                                                                   total)).summary
        clock.done("audit")
    summary: dict[str, Any] = {
        "kind": "real_pair", "seed": config.seed, "base": made.base_info, "tuned": "tuned",
        "n_samples": len(made.rows), "n_prompts": len({r["prompt_id"] for r in made.rows}),
        "pairs": made.pair_stats, "dpo": {"log": made.log,
                                          "final": made.log[-1] if made.log else None},
        "audit": {"verdicts": audit["verdicts"], "path": "audit",
                  "headline": audit_headline(audit)},
    }
    summary["timings"] = clock.times  # the report's own time is added after it is written
    summary["peak_rss_gb"] = peak_rss_gb()
    write_real_pair_report(rd, summary, records=made.records, config=config.to_dict(),
                           audit=audit)
    clock.done("report")
    rd.write_json("summary.json", summary)  # last: marks the run finished
    return summary


run_real_pair = real_pair_job  # the name before 0.2


def peak_rss_gb() -> float | None:
    """Peak resident memory of this process so far, in GB (``None`` where unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)  # KB on Linux


def audit_headline(audit: dict[str, Any]) -> dict[str, Any]:
    """Every tuned-versus-base comparison of the audit, keyed ``probe.metric (scope)``."""
    out: dict[str, Any] = {}
    for probe, res in audit.get("probes", {}).items():
        for c in res.get("comparisons", []):
            key = f"{probe}.{c.get('metric')}" + (f" ({c['scope']})" if c.get("scope") else "")
            out[key] = {k: c.get(k) for k in ("base", "tuned", "p_value", "effect_size",
                                              "verdict")}
    return out
