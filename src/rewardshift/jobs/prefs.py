"""The prefs job: an audit of preference pairs → run directory → report; summary last."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardshift.prefs import BadRow, PrefsAudit, audit_pairs, read_pairs
from rewardshift.report.prefs_run import write_prefs_report
from rewardshift.rundir import RunDir

__all__ = ["prefs_job", "write_prefs_run"]


def write_prefs_run(audit: PrefsAudit, out: str | os.PathLike[str], *,
                    config: dict[str, Any], bad_rows: Sequence[BadRow] = ()) -> Path:
    """``config.json``, ``figures/``, ``report.html`` and, last, ``summary.json``."""
    out = Path(out)
    rd = RunDir.create(out.parent, out.name)
    rd.write_config({"prefs": config})
    report = write_prefs_report(rd, audit, config=config, bad_rows=bad_rows)
    rd.write_json("summary.json", {**audit.to_dict(), "bad_rows": [b.__dict__ for b in bad_rows]})
    return report


def prefs_job(pairs: str | os.PathLike[str], base: str, out: str | os.PathLike[str], *,
              skip_bad: bool = False, seed: int = 0, gguf_file: str | None = None
              ) -> tuple[PrefsAudit, list[BadRow], Path]:
    """Read the pairs, score them under the base model, audit, write ``out``.

    Returns the audit, the rows left out (with ``skip_bad``) and the report's path.
    """
    from rewardshift.generate import TransformersBackend

    rows, bad = read_pairs(pairs, skip_bad=skip_bad)
    backend = TransformersBackend.from_pretrained(base, gguf_file=gguf_file)
    audit = audit_pairs(rows, backend.score, seed=seed)
    report = write_prefs_run(audit, out, bad_rows=bad, config={
        "pairs": str(pairs), "base": base, "seed": seed, "skip_bad": skip_bad,
        "n_pairs": audit.n_pairs, "n_bad_rows": len(bad)})
    return audit, list(bad), report
