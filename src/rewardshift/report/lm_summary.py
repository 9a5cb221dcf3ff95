"""The "Summary" section of the lm report: what the base learnt, how good the reward model is,
and a sentence and a table row for every tuning run at its last checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardshift.report.kit import SafeHTML, html_paragraph, html_table, is_number
from rewardshift.report.lm_format import cell, fnum, pct
from rewardshift.report.lm_records import (
    Records,
    Row,
    alarm_events,
    alarm_steps,
    base_row,
    was_monitored,
)

__all__ = ["summary_blocks"]


_RUN_COLUMNS = ["policy", "method", "β", "step", "proxy", "gold", "in grammar", "KL (nats)",
                "√KL", "distinct-2 within ↑", "self-BLEU-4 within ↓", "alarm step",
                "parting step"]


def summary_blocks(summary: Mapping[str, Any], rec: Records) -> list[SafeHTML]:
    out = [html_paragraph(p) for p in (_pretrain_sentence(summary), _rm_sentence(summary)) if p]
    base = base_row(rec, summary)
    runs_info = summary.get("runs") or {}
    for run, rows in rec.checkpoints.items():
        if rows:
            out.append(html_paragraph(_run_sentence(run, runs_info.get(run) or {}, rows[-1],
                                                    base, alarm_events(summary, rec, run),
                                                    monitored=was_monitored(summary, rec, run))))
    if not rec.checkpoints:
        out.append(html_paragraph("No tuning run was measured."))
    table = []
    if base is not None:
        table.append(_run_cells("base", {"method": "pretrained"}, base, [], None))
    for run, rows in rec.checkpoints.items():
        if rows:
            table.append(_run_cells(run, runs_info.get(run) or {}, rows[-1],
                                    alarm_events(summary, rec, run),
                                    was_monitored(summary, rec, run)))
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
    parts = [f"{k}: held-out NLL {fnum(nll[k], '.2f')} nats per text against the grammar's "
             f"entropy {fnum(ent.get(k), '.2f')}, so KL(truth ‖ base) ≈ {fnum(kl.get(k), '.2f')}"
             + (f" ± {fnum(se[k], '.2f')}" if is_number(se.get(k)) else "") + " nats"
             for k in kinds]
    steps = f" after {pre['steps']} optimizer steps" if is_number(pre.get("steps")) else ""
    return (f"The base model's fit to the grammar{steps} — {'; '.join(parts)}. A KL of 0 would "
            "mean the base reproduces the grammar's distribution exactly.")


def _rm_sentence(summary: Mapping[str, Any]) -> str | None:
    rm = summary.get("reward_model") or {}
    if not is_number(rm.get("heldout_accuracy")):
        return None
    text = f"The proxy reward model ranks {pct(rm['heldout_accuracy'])} of held-out preference "
    text += (f"pairs (n = {rm['n_heldout']}) " if is_number(rm.get("n_heldout")) else "pairs ")
    text += "as the raters did"
    if is_number(rm.get("bayes_accuracy")):
        text += (f"; the raters' own Bradley-Terry probabilities — the ceiling on these noisy "
                 f"labels — reach {pct(rm['bayes_accuracy'])}")
    feat = rm.get("features_rm") or {}
    if is_number(feat.get("heldout_accuracy")):
        text += (f"; a linear RM on the grammar's features ({feat.get('sees', 'features')}) "
                 f"reaches {pct(feat['heldout_accuracy'])}")
    return text + "."


def _run_sentence(run: str, info: Mapping[str, Any], final: Row, base: Row | None,
                  events: Sequence[Mapping[str, Any]], *, monitored: bool | None) -> str:
    b = base or {}
    method = str(info.get("method") or "").upper() or "run"
    beta = f", β = {fnum(info['beta'], 'g')}" if is_number(info.get("beta")) else ""
    text = (f"{run} ({method}{beta}), step {fnum(final.get('step'), 'g')}: proxy "
            f"{fnum(b.get('proxy'))} → {fnum(final.get('proxy'))}, gold {fnum(b.get('gold'))} → "
            f"{fnum(final.get('gold'))}, in grammar {pct(b.get('in_grammar'))} → "
            f"{pct(final.get('in_grammar'))}, KL from the base {fnum(final.get('kl'))} nats, "
            f"distinct-2 within a prompt {fnum(b.get('within_distinct_2'))} → "
            f"{fnum(final.get('within_distinct_2'))}.")
    if is_number(final.get("plausibility")):
        text += (f" Its in-grammar texts have a mean log-probability under the grammar of "
                 f"{fnum(final['plausibility'])} nats (base {fnum(b.get('plausibility'))}).")
    steps = alarm_steps(events)
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
    alarm = ", ".join(str(s) for s in alarm_steps(events)) or (
        "no monitor" if monitored is False else "—")
    return [run, info.get("method") or "—", cell(info.get("beta")), cell(row.get("step")),
            cell(row.get("proxy")), cell(row.get("gold")), pct(row.get("in_grammar")),
            cell(row.get("kl")), cell(row.get("sqrt_kl")), cell(row.get("within_distinct_2")),
            cell(row.get("within_self_bleu_4")), alarm, cell(info.get("parting_step"))]
