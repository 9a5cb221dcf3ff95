"""The figure and table sections of the lm report: training curves and alarms,
over-optimisation (checkpoints, best-of-n, the exact tilt), attribute histograms, the base
and reward models, timings.

Each ``*_blocks`` function returns the SafeHTML blocks of one section; the PNG bytes of the
figures come from :mod:`rewardshift.report.lm_figures` via :mod:`rewardshift.report.lm_run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardshift.report.kit import SafeHTML, html_image, html_paragraph, html_table, is_number
from rewardshift.report.lm_format import cell, pct
from rewardshift.report.lm_records import Records, Row, alarm_events, js_table, was_monitored

__all__ = ["N_CLOSED_FORM_ROWS", "histogram_blocks", "models_blocks", "overoptimization_blocks",
           "timing_blocks", "training_blocks"]

N_CLOSED_FORM_ROWS = 10  # β values shown in the closed-form table


def training_blocks(summary: Mapping[str, Any], rec: Records, png: Mapping[str, bytes]
                    ) -> list[SafeHTML]:
    out = [html_image("training_curves", png["training_curves"], caption=(
        "Thick lines: each checkpoint measured on K fresh completions of every prompt (step 0 is "
        "the base). Thin faint lines: the training batch of each step as logged (the proxy; "
        "the monitor's gold and diversity when it was attached). Dashed vertical line: the "
        "hacking alarm; dotted: where proxy and gold part."))]
    rows = [[run, cell(e.get("step")), e.get("reason") or "—", e.get("message") or "—"]
            for run in rec.checkpoints for e in alarm_events(summary, rec, run)]
    if rows:
        out.append(html_table(["run", "step", "reason", "message"], rows,
                              caption="Alarms raised by the training monitor."))
    else:
        watched = [r for r in rec.checkpoints if was_monitored(summary, rec, r)]
        out.append(html_paragraph(
            f"The training monitor watched {', '.join(watched)} and raised no alarm." if watched
            else "No alarm record: no training monitor was attached (the training log has no "
                 "monitor/* keys).", css_class="meta"))
    return out


def overoptimization_blocks(rec: Records, png: Mapping[str, bytes]) -> list[SafeHTML]:
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
            [[cell(r.get("n")), cell(r.get("kl")), cell(r.get("sqrt_kl")),
              cell(r.get("proxy")), cell(r.get("gold")), pct(r.get("in_grammar"))]
             for r in rec.best_of_n], caption="Best-of-n from the base, averaged over prompts."))
    if rec.closed_form:
        shown = _spread(rec.closed_form, N_CLOSED_FORM_ROWS)
        out.append(html_table(
            ["β", "KL (nats)", "√KL", "proxy", "gold"],
            [[cell(r.get("beta")), cell(r.get("kl")), cell(r.get("sqrt_kl")),
              cell(r.get("proxy")), cell(r.get("gold"))] for r in shown],
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


def histogram_blocks(summary: Mapping[str, Any], rec: Records, png: Mapping[str, bytes]
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
        js = js_table(rec, summary, str(kind), hist or {})
        cols = list(dict.fromkeys(s for v in js.values() for s in v))
        if cols:
            out.append(html_table(["attribute", *(f"JS {c}" for c in cols)],
                                  [[a, *(cell(js[a].get(c)) for c in cols)] for a in js],
                                  caption=f"{kind}: JS divergence from the truth (nats)."))
        else:
            out.append(html_paragraph(f"{kind}: no in-grammar completion, so no divergence from "
                                      "the truth to report.", css_class="meta"))
    return out


def models_blocks(summary: Mapping[str, Any]) -> list[SafeHTML]:
    out: list[SafeHTML] = []
    pre = summary.get("pretrain") or {}
    kinds = list(dict.fromkeys(k for key in ("nll", "entropy", "kl") for k in pre.get(key) or {}))
    if kinds:
        world = summary.get("world") or {}
        out.append(html_table(
            ["kind", "held-out NLL (nats/text)", "grammar entropy", "KL(truth ‖ base)", "± s.e.",
             "NLL before training", "perplexity (per token)", "support (texts)"],
            [[k, *(cell((pre.get(key) or {}).get(k)) for key in
                   ("nll", "entropy", "kl", "kl_se", "nll_before", "perplexity")),
              cell((world.get("support") or {}).get(k))] for k in kinds],
            caption="The base model against the grammar it was pretrained on."))
    rm = summary.get("reward_model") or {}
    if rm:
        feat = rm.get("features_rm") or {}
        rows = [["proxy RM (TRL RewardTrainer), held-out accuracy",
                 cell(rm.get("heldout_accuracy"))],
                ["proxy RM, training accuracy", cell(rm.get("train_accuracy"))],
                ["raters' Bayes ceiling (mean max(p, 1 − p))", cell(rm.get("bayes_accuracy"))],
                [f"features-based linear RM ({feat.get('sees', 'features')}), held-out accuracy",
                 cell(feat.get("heldout_accuracy"))],
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


def timing_blocks(summary: Mapping[str, Any], rec: Records) -> list[SafeHTML]:
    t = {k: v for k, v in (summary.get("timings") or {}).items() if is_number(v)}
    if not t:
        return [html_paragraph("No timings recorded.")]
    stages = ["pretrain", "preferences", "reward model", *rec.checkpoints, "best-of-n",
              "closed form", "report"]  # the pipeline's order; summary.json sorts its keys
    order = [k for k in stages if k in t] + [k for k in t if k not in stages]
    rows = [[k, t[k]] for k in order] + [["total", sum(t.values())]]
    return [html_table(["stage", "seconds"], rows)]
