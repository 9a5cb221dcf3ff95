"""The report of ``rewardshift real-pair``: what the raters preferred, DPO, the audit's verdicts.

Figures are :class:`matplotlib.figure.Figure` built from plain records (no pyplot); every
generated text is escaped by :func:`~rewardshift.report.html.html_table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rewardshift.report.kit import (
    BASE_COLOR,
    TUNED_COLOR,
    SafeHTML,
    html_image,
    html_link,
    html_paragraph,
    html_table,
    render_document,
)

__all__ = ["dpo_curves_figure", "glance_figure", "rater_figure", "write_real_pair_report"]

_FEATURES = {"sentiment": "sentiment (VADER compound)", "brevity": "brevity (−words/40)",
             "typicality": "typicality (mean log π_base per token)"}


def rater_figure(records: Sequence[Mapping[str, Any]]) -> Figure:
    """Per feature, the distribution of (chosen − rejected): right of 0 = the raters' bias."""
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    axes = fig.subplots(1, len(_FEATURES))
    for ax, (key, label) in zip(axes, _FEATURES.items(), strict=True):
        d = np.array([r[f"{key}_chosen"] - r[f"{key}_rejected"] for r in records], dtype=float)
        ax.hist(d, bins=25, color=TUNED_COLOR, alpha=0.8)
        ax.axvline(0, color="black", lw=1)
        ax.axvline(float(d.mean()), color=BASE_COLOR, lw=2, ls="--",
                   label=f"mean {d.mean():+.2f}")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("chosen − rejected")
        ax.legend(fontsize=8, frameon=False)
    axes[0].set_ylabel("pairs")
    fig.suptitle("What the raters preferred: chosen minus rejected, per pair")
    return fig


def dpo_curves_figure(log: Sequence[Mapping[str, Any]]) -> Figure | None:
    """DPO loss, and the implicit reward's accuracy and margin on the training pairs."""
    rows = [r for r in log if "step" in r]
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, key, title in ((axes[0], "loss", "DPO loss (log 2 = chance)"),
                           (axes[1], "rewards/accuracies", "implicit reward picks the chosen"),
                           (axes[2], "rewards/margins", "implicit reward margin")):
        ys = [r.get(key, np.nan) for r in rows]
        ax.plot(steps, ys, marker="o", color=TUNED_COLOR)
        if key == "loss":
            ax.axhline(np.log(2), color="grey", ls=":", lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
    fig.suptitle("DPO with LoRA on the raters' pairs")
    return fig


def glance_figure(audit: Mapping[str, Any], *, top: int = 12) -> Figure | None:
    """Base against tuned at a glance: persona nationalities and review sentiment.

    Left, the ``top`` most frequent nationalities read from the personas (counts, base and
    tuned side by side; the "many nationalities vs three" finding of Mohammadi 2024). Right,
    the histogram of VADER compound scores of the reviews over the probe's bins (the "5.9% vs
    82%" top-bin finding of Wu et al. 2024). ``None`` when the audit ran neither probe.
    """
    from collections import Counter

    probes = audit.get("probes", {})
    persona = probes.get("personas", {}).get("tables", {})
    review = probes.get("reviews", {}).get("tables", {})
    panels = [k for k, t in (("personas", persona), ("reviews", review)) if t]
    if not panels:
        return None
    fig = Figure(figsize=(5.2 * len(panels), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    colours = {"base": BASE_COLOR, "tuned": TUNED_COLOR}
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "personas":
            counts = {src: Counter(r["nationality"] for r in t.get("extracted", [])
                                   if r.get("nationality"))
                      for src, t in persona.items()}
            names = [n for n, _ in sum(counts.values(), Counter()).most_common(top)]
            x = np.arange(len(names))
            for j, (src, c) in enumerate(counts.items()):
                ax.barh(x + (j - 0.5) * 0.4, [c[n] for n in names], height=0.4,
                        color=colours.get(src), label=f"{src}: {len(c)} nationalities")
            ax.set_yticks(x, names, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel("personas")
            ax.set_title(f"nationality (top {len(names)})", fontsize=10)
        else:
            for j, (src, t) in enumerate(review.items()):
                bins = t["bins"]
                keys = sorted(bins, key=lambda b: float(b[1:].split(",")[0]))
                share = np.array([bins[k] for k in keys], dtype=float)
                share = share / max(share.sum(), 1.0)
                x = np.arange(len(keys))
                ax.bar(x + (j - 0.5) * 0.4, share, width=0.4, color=colours.get(src),
                       label=f"{src}: {share[-1]:.0%} in the top bin")
            ax.set_xticks(x, [k.split(",")[0][1:] for k in keys], fontsize=8)
            ax.set_xlabel("VADER compound (bin start)")
            ax.set_ylabel("share of reviews")
            ax.set_title("review sentiment", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle("Base against tuned on the probes' held-out prompts")
    return fig


def _audit_figures(rd) -> list[SafeHTML]:
    figs = sorted((rd.path / "audit" / "figures").glob("*.png"))
    return [html_image(p.stem, p.read_bytes()) for p in figs]


def write_real_pair_report(rd, summary: Mapping[str, Any], *,
                           records: Sequence[Mapping[str, Any]],
                           config: Mapping[str, Any],
                           audit: Mapping[str, Any] | None = None) -> None:
    """Write ``report.html`` (and ``figures/``) into the run directory ``rd``.

    ``audit`` is the audit's ``summary.json``; with it the verdicts lead with
    :func:`glance_figure`.
    """
    from rewardshift.report.figures import figure_to_png

    sections = []
    base = summary["base"]
    dpo = config["dpo"]
    p = summary["pairs"]
    blocks = [html_paragraph(
        f"Base: {base['model']}. The base answered {summary['n_prompts']} training prompts "
        f"({summary['n_samples']} answers kept); biased raters labelled {p['n_pairs']} pairs; "
        f"TRL DPO (β = {dpo['beta']}, LoRA rank {dpo['lora_r']}, learning rate "
        f"{dpo['learning_rate']}, {dpo['epochs']} epoch(s)) tuned it into tuned/. The audit "
        "then compared base and tuned on the probes' own prompts, which training never saw.")]
    if audit is not None and (fig := glance_figure(audit)) is not None:
        rd.write_figure("glance", fig)
        blocks.append(html_image("glance", figure_to_png(fig)))
    blocks += [html_paragraph(v) for v in summary["audit"]["verdicts"][:10]]
    sections.append(("Verdicts", blocks))

    rows = [[_FEATURES[k], p[k]["chosen"], p[k]["rejected"], f"{p[k]['chosen_higher']:.0%}"]
            for k in _FEATURES if k in p]
    r = config["raters"]
    blocks = [html_paragraph(
        f"Rater utility u = {r['sentiment']} · sentiment + {r['brevity']} · brevity + "
        f"{r['alpha']} · typicality; P(a ≻ b) = σ(u_a − u_b), drawn with the run's seed "
        f"(mean P of the recorded choice {p['mean_p_chosen']:.2f})."),
        html_table(["feature", "chosen (mean)", "rejected (mean)", "chosen higher"], rows)]
    fig = rater_figure(records)
    rd.write_figure("raters", fig)
    blocks.append(html_image("raters", figure_to_png(fig)))
    sections.append(("What the raters preferred", blocks))

    log = summary["dpo"]["log"]
    blocks = []
    if (fig := dpo_curves_figure(log)) is not None:
        rd.write_figure("dpo_curves", fig)
        blocks.append(html_image("dpo_curves", figure_to_png(fig)))
    if summary["dpo"]["final"]:
        f = summary["dpo"]["final"]
        blocks.append(html_paragraph(
            f"Last logged step {f.get('step')}: loss {f.get('loss', float('nan')):.3f}, "
            f"reward accuracy {f.get('rewards/accuracies', float('nan')):.2f}, margin "
            f"{f.get('rewards/margins', float('nan')):.2f}."))
    sections.append(("DPO training", blocks or [html_paragraph("No steps were logged.")]))

    head = summary["audit"]["headline"]
    rows = [[k, v.get("base"), v.get("tuned"), v.get("p_value"), v.get("verdict", "")]
            for k, v in head.items()]
    blocks = [html_table(["comparison", "base", "tuned", "p", "verdict"], rows)]
    blocks += _audit_figures(rd)
    blocks.append(html_link("audit/report.html", "the full audit report (samples, definitions)"))
    sections.append(("Audit: base vs tuned", blocks))

    times = summary.get("timings") or {}
    if times:
        rows = [[stage, "reused" if sec == 0.0 else f"{sec:.0f} s"] for stage, sec in
                times.items()]
        rows.append(["total", f"{sum(times.values()) / 60:.1f} min"])
        rss = summary.get("peak_rss_gb")
        note = (f"Peak resident memory of the process: {rss:.1f} GB. " if rss else "") + (
            "A stage marked reused was finished by an earlier, interrupted run into this "
            "directory.")
        sections.append(("Time and memory", [html_table(["stage", "time"], rows),
                                             html_paragraph(note)]))

    ex = sorted(records, key=lambda x: -x["p_chosen"])[:10]
    blocks = [html_table(["prompt", "chosen", "rejected", "P(choice)"],
                         [[x["prompt_id"], x["chosen"], x["rejected"], x["p_chosen"]]
                          for x in ex], caption="the ten most confident choices")]
    sections.append(("Example pairs", blocks))
    rd.write_text("report.html", render_document(
        "rewardshift: a matched real pair", sections,
        subtitle="Gemma 3 270M base → biased raters → DPO + LoRA → audit", config=config))
