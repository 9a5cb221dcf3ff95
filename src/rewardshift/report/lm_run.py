"""The report of an ``lm run``: figures and ``report.html`` from the summary and metrics.jsonl.

:func:`write_lm_report` reads the run's ``metrics.jsonl`` (checkpoint rows, the per-step
training log, best-of-n and closed-form rows; see :mod:`rewardshift.lm.run`) and the summary the
pipeline is about to write, draws the figures into ``figures/`` (PNG and SVG) and writes
``report.html``. It never writes ``summary.json`` (the pipeline writes it last, to mark the run
finished).

Every optional part may be missing -- no alarms (monitor off), no DPO run, no plausibility or
JS divergence when nothing is in the grammar, no metrics.jsonl at all -- and the report says
so instead of failing. Every text from the run (samples, prompts, run names, alarm messages,
config values) goes through the escaping helpers of :mod:`rewardshift.report.html`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.report.html import (
    SafeHTML,
    html_image,
    html_paragraph,
    html_table,
    is_number,
    render_document,
)
from rewardshift.report.lm_figures import (
    attribute_figure,
    diversity_kl_figure,
    overoptimization_figure,
    training_curves_figure,
)
from rewardshift.report.rundir import RunDir

__all__ = ["write_lm_report"]

Row = dict[str, Any]

N_SAMPLE_PAIRS = 12  # base / tuned pairs shown side by side
N_CLOSED_FORM_ROWS = 10  # β values shown in the closed-form table


# --------------------------------------------------------------------------- the records


@dataclass
class _Records:
    """The rows of one run, split by what they measure; each list in plotting order."""

    checkpoints: dict[str, list[Row]] = field(default_factory=dict)  # run -> rows by step
    train: dict[str, list[Row]] = field(default_factory=dict)  # run -> per-step log
    best_of_n: list[Row] = field(default_factory=list)  # by n
    closed_form: list[Row] = field(default_factory=list)  # by sqrt_kl


def _collect(records: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> _Records:
    """Split metrics.jsonl; fall back on the summary where the file lacks a part."""
    out = _Records()
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


def _base_row(rec: _Records, summary: Mapping[str, Any]) -> Row | None:
    """The base policy's row: step 0 of a run (every run starts from the base)."""
    tuned = summary.get("tuned_run")
    for run in [tuned, *rec.checkpoints]:
        rows = rec.checkpoints.get(run) if run is not None else None
        if rows and _num(rows[0].get("step"), -1.0) == 0:
            return rows[0]
    return None


def _alarm_events(summary: Mapping[str, Any], rec: _Records, run: str) -> list[dict[str, Any]]:
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


def _alarm_steps(events: Sequence[Mapping[str, Any]]) -> list[int]:
    return sorted({int(e["step"]) for e in events if is_number(e.get("step"))})


# --------------------------------------------------------------------------- figures


def _figures(rec: _Records, summary: Mapping[str, Any]) -> dict[str, Any]:
    tuned = summary.get("tuned_run")
    runs_info = summary.get("runs") or {}
    figs: dict[str, Any] = {
        "training_curves": training_curves_figure(
            rec.checkpoints, train=rec.train, tuned=tuned,
            alarms={r: _alarm_steps(_alarm_events(summary, rec, r)) for r in rec.checkpoints},
            parting={r: (runs_info.get(r) or {}).get("parting_step") for r in rec.checkpoints}),
        "overoptimization": overoptimization_figure(
            rec.checkpoints, best_of_n=rec.best_of_n, closed_form=rec.closed_form, tuned=tuned),
        "diversity_kl": diversity_kl_figure(rec.checkpoints, base=_base_row(rec, summary),
                                            tuned=tuned),
    }
    sources = _histogram_sources(summary)
    for kind, hist in (summary.get("histograms") or {}).items():
        if isinstance(hist, Mapping) and hist:
            figs[f"attributes_{kind}"] = attribute_figure(
                str(kind), hist, sources=sources, labels=_source_labels(summary),
                js=_js_table(rec, summary, str(kind), hist))
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


def _js_table(rec: _Records, summary: Mapping[str, Any], kind: str,
              hist: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Attribute → source → JS divergence from the truth (base and each run's final row)."""
    rows: dict[str, Row | None] = {"base": _base_row(rec, summary)}
    rows.update({r: (rows_[-1] if rows_ else None) for r, rows_ in rec.checkpoints.items()})
    return {attr: {src: row[f"js_{kind}_{attr}"] for src, row in rows.items()
                   if row is not None and is_number(row.get(f"js_{kind}_{attr}"))}
            for attr in hist}


def _write_figures(rd: RunDir, figs: Mapping[str, Any]) -> dict[str, bytes]:
    """``figures/<name>.png`` and ``.svg`` of each figure; return the PNG bytes by name."""
    png = {}
    for name, fig in figs.items():
        png[name] = rd.write_figure(name, fig, formats=("png",))[0].read_bytes()
        fig.set_layout_engine("none")  # keep the PNG's layout: the same figure, drawn faster
        rd.write_figure(name, fig, formats=("svg",))
    return png


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

    rec = _collect(rd.read_metrics(), summary)
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


def _subtitle(summary: Mapping[str, Any], rec: _Records) -> str:
    runs = ", ".join(rec.checkpoints) or "none"
    parts = [f"seed {summary.get('seed', '—')}", f"tuning runs: {runs}"]
    if summary.get("tuned_run"):
        parts.append(f"the tuned model: {summary['tuned_run']} (final checkpoint)")
    return " · ".join(parts)


def _sections(summary: Mapping[str, Any], rec: _Records, png: Mapping[str, bytes]
              ) -> list[tuple[str, list[SafeHTML]]]:
    return [
        ("Summary", _summary_blocks(summary, rec)),
        ("Training curves", _training_blocks(summary, rec, png)),
        ("Over-optimisation", _overoptimization_blocks(rec, png)),
        ("Samples: base and tuned side by side", _samples_blocks(summary)),
        ("Reward hacking: what the proxy likes and the gold rejects", _hacked_blocks(summary, rec)),
        ("Attribute histograms", _histogram_blocks(summary, rec, png)),
        ("Base model and reward model", _models_blocks(summary)),
        ("Timings", _timing_blocks(summary, rec)),
    ]


# --------------------------------------------------------------------------- helpers


def _f(v: Any, spec: str = ".3g") -> str:
    return format(v, spec) if is_number(v) else "—"


def _pct(v: Any) -> str:
    return f"{v:.0%}" if is_number(v) else "—"


def _cell(v: Any) -> Any:
    """A table cell: numbers as they are (html_table formats them; float noise below 1e-9,
    such as the KL of best-of-1, shows as 0), missing as ``—``."""
    if v is None or (isinstance(v, float) and not is_number(v)):
        return "—"
    return 0 if is_number(v) and abs(v) < 1e-9 else v


def _div(blocks: Sequence[SafeHTML], css_class: str | None = None) -> SafeHTML:
    """Wrap escaped fragments in a ``<div>`` (the class is a constant of this module)."""
    for b in blocks:
        if not isinstance(b, SafeHTML):
            raise InputError("_div: blocks must be SafeHTML built by the html_* helpers")
    cls = f' class="{css_class}"' if css_class else ""
    return SafeHTML(f"<div{cls}>" + "".join(blocks) + "</div>")


# --------------------------------------------------------------------------- summary


_RUN_COLUMNS = ["policy", "method", "β", "step", "proxy", "gold", "in grammar", "KL (nats)",
                "√KL", "distinct-2 within ↑", "self-BLEU-4 within ↓", "alarm step",
                "parting step"]


def _summary_blocks(summary: Mapping[str, Any], rec: _Records) -> list[SafeHTML]:
    out = [html_paragraph(p) for p in (_pretrain_sentence(summary), _rm_sentence(summary)) if p]
    base = _base_row(rec, summary)
    runs_info = summary.get("runs") or {}
    for run, rows in rec.checkpoints.items():
        if rows:
            out.append(html_paragraph(_run_sentence(run, runs_info.get(run) or {}, rows[-1],
                                                    base, _alarm_events(summary, rec, run),
                                                    monitored=_monitored(summary, rec, run))))
    if not rec.checkpoints:
        out.append(html_paragraph("No tuning run was measured."))
    table = []
    if base is not None:
        table.append(_run_cells("base", {"method": "pretrained"}, base, [], None))
    for run, rows in rec.checkpoints.items():
        if rows:
            table.append(_run_cells(run, runs_info.get(run) or {}, rows[-1],
                                    _alarm_events(summary, rec, run),
                                    _monitored(summary, rec, run)))
    if table:
        out.append(html_table(_RUN_COLUMNS, table, caption=(
            "Each policy at its last measured checkpoint (the base at step 0). β: the weight of "
            "the KL penalty. Alarm step: where the training monitor fired; parting step: the "
            "first checkpoint after the gold's peak at which the proxy is higher than there.")))
    out.append(html_paragraph(
        "Proxy and gold are mean rewards over K sampled completions of every prompt; the gold "
        "gives a completion outside the grammar (or one that never stops) its floor. KL is the "
        "Monte-Carlo estimate of KL(policy ‖ base) per completion, in nats. Distinct-2: higher "
        "= more diverse; self-BLEU-4: higher = less diverse.", css_class="meta"))
    return out


def _pretrain_sentence(summary: Mapping[str, Any]) -> str | None:
    pre = summary.get("pretrain") or {}
    nll, ent, kl = (pre.get(k) or {} for k in ("nll", "entropy", "kl"))
    kinds = [k for k in nll if is_number(nll.get(k))]
    if not kinds:
        return None
    se = pre.get("kl_se") or {}
    parts = [f"{k}: held-out NLL {_f(nll[k], '.2f')} nats per text against the grammar's "
             f"entropy {_f(ent.get(k), '.2f')}, so KL(truth ‖ base) ≈ {_f(kl.get(k), '.2f')}"
             + (f" ± {_f(se[k], '.2f')}" if is_number(se.get(k)) else "") + " nats"
             for k in kinds]
    steps = f" after {pre['steps']} optimizer steps" if is_number(pre.get("steps")) else ""
    return (f"The base model's fit to the grammar{steps} — {'; '.join(parts)}. A KL of 0 would "
            "mean the base reproduces the grammar's distribution exactly.")


def _rm_sentence(summary: Mapping[str, Any]) -> str | None:
    rm = summary.get("reward_model") or {}
    if not is_number(rm.get("heldout_accuracy")):
        return None
    text = f"The proxy reward model ranks {_pct(rm['heldout_accuracy'])} of held-out preference "
    text += (f"pairs (n = {rm['n_heldout']}) " if is_number(rm.get("n_heldout")) else "pairs ")
    text += "as the raters did"
    if is_number(rm.get("bayes_accuracy")):
        text += (f"; the raters' own Bradley-Terry probabilities — the ceiling on these noisy "
                 f"labels — reach {_pct(rm['bayes_accuracy'])}")
    feat = rm.get("features_rm") or {}
    if is_number(feat.get("heldout_accuracy")):
        text += (f"; a linear RM on the grammar's features ({feat.get('sees', 'features')}) "
                 f"reaches {_pct(feat['heldout_accuracy'])}")
    return text + "."


def _monitored(summary: Mapping[str, Any], rec: _Records, run: str) -> bool | None:
    """Whether the training monitor watched ``run``; None when the records cannot tell.

    The summary lists ``alarms[run] = []`` both when the monitor watched quietly and when none
    was attached, so the training log decides: the monitor logs its ``monitor/*`` keys.
    """
    if _alarm_events(summary, rec, run):
        return True
    train = rec.train.get(run)
    if train:
        return any(str(k).startswith("monitor/") for r in train for k in r)
    return None


def _run_sentence(run: str, info: Mapping[str, Any], final: Row, base: Row | None,
                  events: Sequence[Mapping[str, Any]], *, monitored: bool | None) -> str:
    b = base or {}
    method = str(info.get("method") or "").upper() or "run"
    beta = f", β = {_f(info['beta'], 'g')}" if is_number(info.get("beta")) else ""
    text = (f"{run} ({method}{beta}), step {_f(final.get('step'), 'g')}: proxy "
            f"{_f(b.get('proxy'))} → {_f(final.get('proxy'))}, gold {_f(b.get('gold'))} → "
            f"{_f(final.get('gold'))}, in grammar {_pct(b.get('in_grammar'))} → "
            f"{_pct(final.get('in_grammar'))}, KL from the base {_f(final.get('kl'))} nats, "
            f"distinct-2 within a prompt {_f(b.get('within_distinct_2'))} → "
            f"{_f(final.get('within_distinct_2'))}.")
    if is_number(final.get("plausibility")):
        text += (f" Its in-grammar texts have a mean log-probability under the grammar of "
                 f"{_f(final['plausibility'])} nats (base {_f(b.get('plausibility'))}).")
    steps = _alarm_steps(events)
    if steps:
        reasons = sorted({str(e.get("reason")) for e in events if e.get("reason")})
        text += f" The hacking alarm fired at step {steps[0]}"
        text += f" ({', '.join(reasons)})." if reasons else "."
    elif monitored:
        text += " The hacking alarm did not fire."
    elif monitored is False and info.get("method") != "dpo":
        text += " No training monitor watched it."
    part = info.get("parting_step")
    if is_number(part):
        text += f" Proxy and gold part at step {part}: the gold has peaked, the proxy rises on."
    elif "parting_step" in info:
        text += " Proxy and gold did not part over the measured checkpoints."
    return text


def _run_cells(run: str, info: Mapping[str, Any], row: Row,
               events: Sequence[Mapping[str, Any]], monitored: bool | None) -> list[Any]:
    alarm = ", ".join(str(s) for s in _alarm_steps(events)) or (
        "no monitor" if monitored is False else "—")
    return [run, info.get("method") or "—", _cell(info.get("beta")), _cell(row.get("step")),
            _cell(row.get("proxy")), _cell(row.get("gold")), _pct(row.get("in_grammar")),
            _cell(row.get("kl")), _cell(row.get("sqrt_kl")), _cell(row.get("within_distinct_2")),
            _cell(row.get("within_self_bleu_4")), alarm, _cell(info.get("parting_step"))]


# --------------------------------------------------------------------------- training, over-opt


def _training_blocks(summary: Mapping[str, Any], rec: _Records, png: Mapping[str, bytes]
                     ) -> list[SafeHTML]:
    out = [html_image("training_curves", png["training_curves"], caption=(
        "Thick lines: each checkpoint measured on K fresh completions of every prompt (step 0 is "
        "the base). Thin faint lines: the training batch of each step as logged (the proxy; "
        "the monitor's gold and diversity when it was attached). Dashed vertical line: the "
        "hacking alarm; dotted: where proxy and gold part."))]
    rows = [[run, _cell(e.get("step")), e.get("reason") or "—", e.get("message") or "—"]
            for run in rec.checkpoints for e in _alarm_events(summary, rec, run)]
    if rows:
        out.append(html_table(["run", "step", "reason", "message"], rows,
                              caption="Alarms raised by the training monitor."))
    else:
        watched = [r for r in rec.checkpoints if _monitored(summary, rec, r)]
        out.append(html_paragraph(
            f"The training monitor watched {', '.join(watched)} and raised no alarm." if watched
            else "No alarm record: no training monitor was attached (the training log has no "
                 "monitor/* keys).", css_class="meta"))
    return out


def _overoptimization_blocks(rec: _Records, png: Mapping[str, bytes]) -> list[SafeHTML]:
    out = [html_paragraph(
        "Reward against d = √KL from the base, the axes of Gao, Schulman & Hilton (2022). Every "
        "optimiser raises the proxy as it moves away from the base; the gold tells whether that "
        "helped. Best-of-n picks the proxy's favourite of n base samples (KL by the exact "
        "estimator). The exact KL tilt π_β ∝ π_base·exp(r/β) is computed in closed form on the "
        "breakage grammar's whole support under one prompt, so it cannot leave the grammar — "
        "its curve shows what the proxy would give if the policy could not step outside it."),
        html_image("overoptimization", png["overoptimization"], caption=(
            "Solid lines with dots: the GRPO / DPO checkpoints; dashed squares: best-of-n; "
            "black line: the exact tilt. Its KL is per breakage text, the others per "
            "completion over all prompts."))]
    if rec.best_of_n:
        out.append(html_table(
            ["n", "KL (nats)", "√KL", "proxy", "gold", "in grammar"],
            [[_cell(r.get("n")), _cell(r.get("kl")), _cell(r.get("sqrt_kl")),
              _cell(r.get("proxy")), _cell(r.get("gold")), _pct(r.get("in_grammar"))]
             for r in rec.best_of_n], caption="Best-of-n from the base, averaged over prompts."))
    if rec.closed_form:
        shown = _spread(rec.closed_form, N_CLOSED_FORM_ROWS)
        out.append(html_table(
            ["β", "KL (nats)", "√KL", "proxy", "gold"],
            [[_cell(r.get("beta")), _cell(r.get("kl")), _cell(r.get("sqrt_kl")),
              _cell(r.get("proxy")), _cell(r.get("gold"))] for r in shown],
            caption=f"The exact KL tilt ({len(shown)} of {len(rec.closed_form)} β values)."))
    out.append(html_image("diversity_kl", png["diversity_kl"], caption=(
        "Diversity of each run's checkpoints against √KL; the dashed blue line is the base. "
        "Within: among the K completions of one prompt; across: the first completion of each "
        "prompt.")))
    return out


def _spread(rows: Sequence[Row], n: int) -> list[Row]:
    if len(rows) <= n:
        return list(rows)
    idx = sorted({round(i * (len(rows) - 1) / (n - 1)) for i in range(n)})
    return [rows[i] for i in idx]


# --------------------------------------------------------------------------- samples


def _samples_blocks(summary: Mapping[str, Any]) -> list[SafeHTML]:
    samples = summary.get("samples") or {}
    base, tuned = list(samples.get("base") or []), list(samples.get("tuned") or [])
    if not base and not tuned:
        return [html_paragraph("No samples in the summary.")]
    tuned_name = summary.get("tuned_run") or "tuned"
    out = [html_table(["policy", "samples", "mean proxy", "mean gold", "in grammar",
                       "stopped (eos)"],
                      [_sample_stats("base", base), _sample_stats(f"tuned: {tuned_name}", tuned)],
                      caption="Over all completions kept in the summary.")]
    out.append(html_paragraph(
        f"Completions of the same prompt by the base (left) and the tuned model {tuned_name} "
        f"(right, final checkpoint), {N_SAMPLE_PAIRS} pairs at most, spread over the prompts.",
        css_class="meta"))
    for prompt, b, t in _pairs(base, tuned, N_SAMPLE_PAIRS):
        out.append(html_paragraph(f"Prompt: {prompt}", css_class="meta"))
        out.append(_div([_sample_cell("base", b), _sample_cell(f"tuned: {tuned_name}", t)],
                        "samples"))
    return out


def _sample_stats(label: str, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    def mean(key: str) -> Any:
        vals = [float(r[key]) for r in rows if is_number(r.get(key)) or
                isinstance(r.get(key), bool)]
        return sum(vals) / len(vals) if vals else None

    return [label, len(rows), _cell(mean("proxy")), _cell(mean("gold")),
            _pct(mean("in_grammar")), _pct(mean("terminated"))]


def _pairs(base: Sequence[Mapping[str, Any]], tuned: Sequence[Mapping[str, Any]], limit: int
           ) -> list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """Up to ``limit`` (prompt, base, tuned) triples, one per prompt in turn (round robin)."""
    by_prompt: dict[str, tuple[list, list]] = {}
    for side, rows in enumerate((base, tuned)):
        for r in rows:
            by_prompt.setdefault(str(r.get("prompt", "")), ([], []))[side].append(r)
    out: list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]] = []
    depth = max((max(len(b), len(t)) for b, t in by_prompt.values()), default=0)
    for j in range(depth):
        for prompt, (b, t) in by_prompt.items():
            if len(out) == limit:
                return out
            if j < len(b) or j < len(t):
                out.append((prompt, b[j] if j < len(b) else None, t[j] if j < len(t) else None))
    return out


def _sample_meta(r: Mapping[str, Any]) -> str:
    parts = [f"proxy {_f(r.get('proxy'))}", f"gold {_f(r.get('gold'))}",
             "in grammar" if r.get("in_grammar") else "outside the grammar"]
    if r.get("terminated") is False:
        parts.append("cut at the length limit")
    return " · ".join(parts)


def _sample_cell(label: str, r: Mapping[str, Any] | None) -> SafeHTML:
    if r is None:
        return _div([html_paragraph(f"{label}: no completion of this prompt", css_class="meta")])
    text = str(r.get("text", ""))
    return _div([html_paragraph(f"{label} · {_sample_meta(r)}", css_class="meta"),
                 html_paragraph(text if text.strip() else "(empty completion)")])


def _hacked_blocks(summary: Mapping[str, Any], rec: _Records) -> list[SafeHTML]:
    hacked = summary.get("hacked") or {}
    rows = list(hacked.get("samples") or [])
    run = hacked.get("run") or "—"
    if not rows:
        return [html_paragraph("No completion left the grammar: nothing for the proxy to be "
                               "fooled by." if hacked else "No hacked samples in the summary.")]
    base = _base_row(rec, summary) or {}
    above = sum(1 for r in rows if is_number(r.get("proxy")) and is_number(base.get("proxy"))
                and r["proxy"] > base["proxy"])
    text = (f"Completions of {run} (the run with the largest share outside the grammar) that are "
            f"not texts of the grammar, highest proxy first. The gold gives each its floor; the "
            f"proxy does not know that.")
    if is_number(base.get("proxy")):
        count = f"All {len(rows)}" if above == len(rows) else f"{above} of these {len(rows)}"
        text += f" {count} score above the base's mean proxy ({_f(base['proxy'])})."
    return [html_paragraph(text),
            _div([_div([html_paragraph(f"Prompt: {r.get('prompt', '')}", css_class="meta"),
                        html_paragraph(f"proxy {_f(r.get('proxy'))} · gold {_f(r.get('gold'))}",
                                       css_class="meta"),
                        html_paragraph(str(r.get("text", "")) or "(empty completion)")])
                  for r in rows], "samples")]


# --------------------------------------------------------------------------- histograms, models


def _histogram_blocks(summary: Mapping[str, Any], rec: _Records, png: Mapping[str, bytes]
                      ) -> list[SafeHTML]:
    hists = summary.get("histograms") or {}
    if not hists:
        return [html_paragraph("No attribute histograms in the summary.")]
    out = [html_paragraph(
        "For every attribute of the grammar's texts, the share of each category under the "
        "grammar (the truth), among the base's in-grammar completions and among the tuned "
        "model's. Reward tuning that favours some attribute values (typical, positive, "
        "iconic) moves mass towards them; the Jensen-Shannon divergence (nats, 0 = the truth's "
        "shares) is in each panel's title and the table below.")]
    for kind, hist in hists.items():
        name = f"attributes_{kind}"
        if name in png:
            out.append(html_image(name, png[name]))
        js = _js_table(rec, summary, str(kind), hist or {})
        cols = list(dict.fromkeys(s for v in js.values() for s in v))
        if cols:
            out.append(html_table(["attribute", *(f"JS {c}" for c in cols)],
                                  [[a, *(_cell(js[a].get(c)) for c in cols)] for a in js],
                                  caption=f"{kind}: JS divergence from the truth (nats)."))
        else:
            out.append(html_paragraph(f"{kind}: no in-grammar completion, so no divergence from "
                                      "the truth to report.", css_class="meta"))
    return out


def _models_blocks(summary: Mapping[str, Any]) -> list[SafeHTML]:
    out: list[SafeHTML] = []
    pre = summary.get("pretrain") or {}
    kinds = list(dict.fromkeys(k for key in ("nll", "entropy", "kl") for k in pre.get(key) or {}))
    if kinds:
        world = summary.get("world") or {}
        out.append(html_table(
            ["kind", "held-out NLL (nats/text)", "grammar entropy", "KL(truth ‖ base)", "± s.e.",
             "NLL before training", "perplexity (per token)", "support (texts)"],
            [[k, *(_cell((pre.get(key) or {}).get(k)) for key in
                   ("nll", "entropy", "kl", "kl_se", "nll_before", "perplexity")),
              _cell((world.get("support") or {}).get(k))] for k in kinds],
            caption="The base model against the grammar it was pretrained on."))
    rm = summary.get("reward_model") or {}
    if rm:
        feat = rm.get("features_rm") or {}
        rows = [["proxy RM (TRL RewardTrainer), held-out accuracy",
                 _cell(rm.get("heldout_accuracy"))],
                ["proxy RM, training accuracy", _cell(rm.get("train_accuracy"))],
                ["raters' Bayes ceiling (mean max(p, 1 − p))", _cell(rm.get("bayes_accuracy"))],
                [f"features-based linear RM ({feat.get('sees', 'features')}), held-out accuracy",
                 _cell(feat.get("heldout_accuracy"))],
                ["preference pairs: training / held-out",
                 f"{rm.get('n_train', '—')} / {rm.get('n_heldout', '—')}"]]
        out.append(html_table(["reward model", "value"], rows))
        out.append(html_paragraph(
            "The raters prefer texts by four perceptual features plus a typicality bias (the "
            "base model's log-probability); the gold reward is the features alone. An RM at "
            "the Bayes ceiling has learnt the raters, bias included — and it was trained only "
            "on texts of the grammar, so it has never seen the degenerate text a policy can "
            "drift into.", css_class="meta"))
    return out or [html_paragraph("No base-model or reward-model statistics in the summary.")]


def _timing_blocks(summary: Mapping[str, Any], rec: _Records) -> list[SafeHTML]:
    t = {k: v for k, v in (summary.get("timings") or {}).items() if is_number(v)}
    if not t:
        return [html_paragraph("No timings recorded.")]
    stages = ["pretrain", "preferences", "reward model", *rec.checkpoints, "best-of-n",
              "closed form", "report"]  # the pipeline's order; summary.json sorts its keys
    order = [k for k in stages if k in t] + [k for k in t if k not in stages]
    rows = [[k, t[k]] for k in order] + [["total", sum(t.values())]]
    return [html_table(["stage", "seconds"], rows)]
