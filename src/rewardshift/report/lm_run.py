"""The report of an ``lm run``: figures and ``report.html`` from the summary and metrics.jsonl.

:func:`write_lm_report` reads the run's ``metrics.jsonl`` (checkpoint rows, the per-step
training log, best-of-n and closed-form rows; see :mod:`rewardshift.lm.run`) and the summary the
pipeline is about to write, draws the figures into ``figures/`` (PNG and SVG) and writes
``report.html``. It never writes ``summary.json`` (the pipeline writes it last, to mark the run
finished).

Every optional part may be missing -- no alarms (monitor off), no DPO run, no plausibility or
JS divergence when nothing is in the grammar, no metrics.jsonl at all -- and the report says
so instead of failing. Every text from the run (samples, prompts, run names, alarm messages,
config values) goes through the escaping helpers of :mod:`rewardshift.report.kit`.

This module composes the parts:

- :mod:`rewardshift.report.lm_records` splits metrics.jsonl and reads the records;
- :mod:`rewardshift.report.lm_figures` draws the figures;
- :mod:`rewardshift.report.lm_summary`, :mod:`rewardshift.report.lm_sections` and
  :mod:`rewardshift.report.lm_samples` build the sections, with the formats of
  :mod:`rewardshift.report.lm_format`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.report.kit import SafeHTML, render_document
from rewardshift.report.lm_figures import (
    attribute_figure,
    diversity_kl_figure,
    overoptimization_figure,
    training_curves_figure,
)
from rewardshift.report.lm_records import (
    Records,
    alarm_events,
    alarm_steps,
    base_row,
    collect_records,
    js_table,
)
from rewardshift.report.lm_samples import hacked_blocks, samples_blocks
from rewardshift.report.lm_sections import (
    histogram_blocks,
    models_blocks,
    overoptimization_blocks,
    timing_blocks,
    training_blocks,
)
from rewardshift.report.lm_summary import summary_blocks
from rewardshift.rundir import RunDir

__all__ = ["write_lm_report"]


# --------------------------------------------------------------------------- the document


def write_lm_report(rd: RunDir, summary: Mapping[str, Any]) -> Path:
    """Write ``figures/*.png|svg`` and ``report.html`` of an lm run; return the report's path.

    Parameters
    ----------
    rd : RunDir
        The run directory; its ``metrics.jsonl`` is read (missing: the summary's first and
        final rows and its best-of-n / closed-form lists are used) and ``config.json`` shown.
    summary : dict
        The summary :func:`rewardshift.lm.run.run_lm` is about to write. Only ``runs`` is
        needed; every other key is optional.

    Raises
    ------
    InputError
        if ``summary`` is not a mapping.
    """
    if not isinstance(summary, Mapping):
        raise InputError(f"write_lm_report: summary is a {type(summary).__name__}; give the "
                         "summary dict of the run")
    from rewardshift import __version__

    rec = collect_records(rd.read_metrics(), summary)
    png = _write_figures(rd, _figures(rec, summary))
    html = render_document(f"rewardshift lm run: {Path(rd.path).name}",
                           _sections(summary, rec, png), subtitle=_subtitle(summary, rec),
                           config=_config(rd), version=__version__)
    return rd.write_text("report.html", html)


def _config(rd: RunDir) -> Any:
    try:
        return rd.read_json("config.json")
    except (OSError, ValueError):
        return None


def _subtitle(summary: Mapping[str, Any], rec: Records) -> str:
    runs = ", ".join(rec.checkpoints) or "none"
    parts = [f"seed {summary.get('seed', '—')}", f"tuning runs: {runs}"]
    if summary.get("tuned_run"):
        parts.append(f"the tuned model: {summary['tuned_run']} (final checkpoint)")
    return " · ".join(parts)


def _sections(summary: Mapping[str, Any], rec: Records, png: Mapping[str, bytes]
              ) -> list[tuple[str, list[SafeHTML]]]:
    return [
        ("Summary", summary_blocks(summary, rec)),
        ("Training curves", training_blocks(summary, rec, png)),
        ("Over-optimisation", overoptimization_blocks(rec, png)),
        ("Samples: base and tuned side by side", samples_blocks(summary)),
        ("Reward hacking: what the proxy likes and the gold rejects", hacked_blocks(summary, rec)),
        ("Attribute histograms", histogram_blocks(summary, rec, png)),
        ("Base model and reward model", models_blocks(summary)),
        ("Timings", timing_blocks(summary, rec)),
    ]


# --------------------------------------------------------------------------- figures


def _figures(rec: Records, summary: Mapping[str, Any]) -> dict[str, Any]:
    tuned = summary.get("tuned_run")
    runs_info = summary.get("runs") or {}
    figs: dict[str, Any] = {
        "training_curves": training_curves_figure(
            rec.checkpoints, train=rec.train, tuned=tuned,
            alarms={r: alarm_steps(alarm_events(summary, rec, r)) for r in rec.checkpoints},
            parting={r: (runs_info.get(r) or {}).get("parting_step") for r in rec.checkpoints}),
        "overoptimization": overoptimization_figure(
            rec.checkpoints, best_of_n=rec.best_of_n, closed_form=rec.closed_form, tuned=tuned),
        "diversity_kl": diversity_kl_figure(rec.checkpoints, base=base_row(rec, summary),
                                            tuned=tuned),
    }
    sources = _histogram_sources(summary)
    for kind, hist in (summary.get("histograms") or {}).items():
        if isinstance(hist, Mapping) and hist:
            figs[f"attributes_{kind}"] = attribute_figure(
                str(kind), hist, sources=sources, labels=_source_labels(summary),
                js=js_table(rec, summary, str(kind), hist))
    return figs


def _histogram_sources(summary: Mapping[str, Any]) -> list[str]:
    tuned = summary.get("tuned_run")
    return ["truth", "base"] + ([str(tuned)] if tuned else [])


def _source_labels(summary: Mapping[str, Any]) -> dict[str, str]:
    tuned = summary.get("tuned_run")
    out = {"truth": "truth (the grammar)", "base": "base"}
    if tuned:
        out[str(tuned)] = f"tuned: {tuned}"
    return out


def _write_figures(rd: RunDir, figs: Mapping[str, Any]) -> dict[str, bytes]:
    """``figures/<name>.png`` and ``.svg`` of each figure; return the PNG bytes by name."""
    png = {}
    for name, fig in figs.items():
        png[name] = rd.write_figure(name, fig, formats=("png",))[0].read_bytes()
        fig.set_layout_engine("none")  # keep the PNG's layout: the same figure, drawn faster
        rd.write_figure(name, fig, formats=("svg",))
    return png
