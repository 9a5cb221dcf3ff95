"""The records of an ``lm run``: its metrics.jsonl rows split by what they measure.

:func:`collect_records` splits the rows of ``metrics.jsonl`` into checkpoint rows, the per-step
training log, best-of-n and closed-form rows (falling back on the summary where the file lacks
a part); the other functions read what every section and figure of the report needs from them:
the base policy's row, a run's alarm events, whether a monitor watched it, the JS divergences
of the attribute histograms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardshift.report.kit import is_number

__all__ = ["Records", "Row", "alarm_events", "alarm_steps", "base_row", "collect_records",
           "js_table", "was_monitored"]

Row = dict[str, Any]


@dataclass
class Records:
    """The rows of one run, split by what they measure; each list in plotting order."""

    checkpoints: dict[str, list[Row]] = field(default_factory=dict)  # run -> rows by step
    train: dict[str, list[Row]] = field(default_factory=dict)  # run -> per-step log
    best_of_n: list[Row] = field(default_factory=list)  # by n
    closed_form: list[Row] = field(default_factory=list)  # by sqrt_kl


def collect_records(records: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> Records:
    """Split metrics.jsonl; fall back on the summary where the file lacks a part."""
    out = Records()
    ckpt: dict[str, dict[Any, Row]] = {}
    for r in records:
        run, phase = r.get("run"), r.get("phase")
        if phase == "checkpoint" and run is not None:
            ckpt.setdefault(str(run), {})[r.get("step")] = dict(r)  # a re-measured step: last
        elif phase == "train" and run is not None:
            out.train.setdefault(str(run), []).append(dict(r))
        elif run == "best-of-n":
            out.best_of_n.append(dict(r))
        elif run == "closed-form":
            out.closed_form.append(dict(r))
    for run in _run_names(summary, ckpt):
        rows = list(ckpt.get(run, {}).values())
        if not rows:  # no metrics.jsonl rows: the first and final rows of the summary
            info = (summary.get("runs") or {}).get(run) or {}
            rows = [dict(info[k]) for k in ("first", "final") if isinstance(info.get(k), Mapping)]
        out.checkpoints[run] = sorted(rows, key=lambda r: _num(r.get("step"), 0.0))
    out.best_of_n = out.best_of_n or [dict(r) for r in summary.get("best_of_n") or []]
    out.closed_form = out.closed_form or [dict(r) for r in summary.get("closed_form") or []]
    out.best_of_n.sort(key=lambda r: _num(r.get("n"), 0.0))
    out.closed_form.sort(key=lambda r: _num(r.get("sqrt_kl"), 0.0))
    for rows in out.train.values():
        rows.sort(key=lambda r: _num(r.get("step"), 0.0))
    return out


def _run_names(summary: Mapping[str, Any], measured: Mapping[str, Any]) -> list[str]:
    """Runs in the order they were trained (metrics.jsonl), then any only in the summary
    (summary.json sorts its keys, so its order is alphabetical)."""
    return list(dict.fromkeys([*measured, *(summary.get("runs") or {})]))


def _num(v: Any, default: float) -> float:
    return float(v) if is_number(v) else default


def base_row(rec: Records, summary: Mapping[str, Any]) -> Row | None:
    """The base policy's row: step 0 of a run (every run starts from the base)."""
    tuned = summary.get("tuned_run")
    for run in [tuned, *rec.checkpoints]:
        rows = rec.checkpoints.get(run) if run is not None else None
        if rows and _num(rows[0].get("step"), -1.0) == 0:
            return rows[0]
    return None


def alarm_events(summary: Mapping[str, Any], rec: Records, run: str) -> list[dict[str, Any]]:
    """The run's alarm events ``{step, reason, message}``; from the training log if the
    summary has no entry for the run."""
    alarms = summary.get("alarms")
    if isinstance(alarms, Mapping) and run in alarms:
        return [d for d in map(_event_dict, alarms[run] or []) if d is not None]
    return [{"step": r["step"], "reason": "alarm", "message": "monitor/alarm logged"}
            for r in rec.train.get(run, []) if _num(r.get("monitor/alarm"), 0.0) > 0]


def _event_dict(event: Any) -> dict[str, Any] | None:
    """An alarm event as a dict: a mapping (summary.json) or an ``AlarmEvent`` dataclass."""
    if isinstance(event, Mapping):
        return dict(event)
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        return dataclasses.asdict(event)
    return None


def alarm_steps(events: Sequence[Mapping[str, Any]]) -> list[int]:
    return sorted({int(e["step"]) for e in events if is_number(e.get("step"))})


def was_monitored(summary: Mapping[str, Any], rec: Records, run: str) -> bool | None:
    """Whether the training monitor watched ``run``; None when the records cannot tell.

    The summary lists ``alarms[run] = []`` both when the monitor watched quietly and when none
    was attached, so the training log decides: the monitor logs its ``monitor/*`` keys.
    """
    if alarm_events(summary, rec, run):
        return True
    train = rec.train.get(run)
    if train:
        return any(str(k).startswith("monitor/") for r in train for k in r)
    return None


def js_table(rec: Records, summary: Mapping[str, Any], kind: str,
             hist: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Attribute → source → JS divergence from the truth (base and each run's final row)."""
    rows: dict[str, Row | None] = {"base": base_row(rec, summary)}
    rows.update({r: (rows_[-1] if rows_ else None) for r, rows_ in rec.checkpoints.items()})
    return {attr: {src: row[f"js_{kind}_{attr}"] for src, row in rows.items()
                   if row is not None and is_number(row.get(f"js_{kind}_{attr}"))}
            for attr in hist}
