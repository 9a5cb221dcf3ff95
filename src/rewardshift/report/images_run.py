"""The report of ``rewardshift lab run images``: the thesis on pixels.

Grids of base against tuned samples drawn with the same seeds, the sweep's curves (proxy
reward, gold, diversity and recall against each method's strength), the per-axis table
(physical against perceptual), the edge cases, the iconic mean, and the reward model against
the raters' noise ceiling. Figures are :class:`matplotlib.figure.Figure` (no pyplot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rewardshift.report.figures import save_figures
from rewardshift.report.kit import (
    BASE_COLOR,
    OKABE_ITO,
    TUNED_COLOR,
    SafeHTML,
    html_image,
    html_paragraph,
    html_table,
    render_document,
)
from rewardshift.rundir import RunDir

__all__ = ["curves_figure", "grid_figure", "write_images_report"]

GRID = 8  # images per side per row of the grid


def grid_figure(rows: Mapping[str, np.ndarray], *, n: int = GRID, title: str = "") -> Figure:
    """One row of ``n`` images per policy, column ``i`` from the same seed in every row."""
    fig = Figure(figsize=(1.1 * n + 1.4, 1.15 * len(rows) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), n))
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(images[c], interpolation="nearest")
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def curves_figure(records: Sequence[Mapping[str, Any]]) -> Figure:
    """Proxy, gold, diversity and recall against strength, one line per method."""
    keys = [("proxy", "proxy reward (reward model)"), ("gold", "gold: log-density of the "
            "latents read off the pixels"), ("diversity_vendi_q1", "Vendi (q=1), CNN features"),
            ("recall", "recall of the truth (k-NN)")]
    fig = Figure(figsize=(12, 3.1), layout="constrained")
    axes = fig.subplots(1, len(keys))
    base = next((r for r in records if r["method"] == "base"), None)
    colors = {"ddpo": TUNED_COLOR, "dpo": OKABE_ITO["green"], "bon": OKABE_ITO["purple"]}
    for ax, (key, label) in zip(axes, keys, strict=True):
        for method, color in colors.items():
            rows = sorted((r for r in records if r["method"] == method and key in r),
                          key=lambda r: r["strength"])
            if rows:
                xs = [r["strength"] for r in rows]
                ax.plot(xs, [r[key] for r in rows], "o-", color=color, label=method, ms=4)
        if base is not None and key in base:
            ax.axhline(base[key], color=BASE_COLOR, lw=1, ls="--", label="base")
        ax.set_xscale("log")
        ax.set_xlabel("strength (DDPO iterations, DPO beta, n)")
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=8)
    return fig


def _grids(samples: Mapping[str, np.ndarray], reported: str) -> dict[str, Figure]:
    rows = {"base": samples["base"]}
    for name in samples:
        if name != "base" and (name == reported or name.startswith(("ddpo", "dpo"))):
            rows[name] = samples[name]
    best = max((n for n in samples if n.startswith("bon-")), default=None,
               key=lambda n: int(n.split("-")[1]))
    if best:
        rows[best] = samples[best]
    return {"grid": grid_figure(rows, title="Each column: the same seed under every policy")}


def write_images_report(rd: RunDir, summary: Mapping[str, Any],
                        records: Sequence[Mapping[str, Any]], samples: Mapping[str, np.ndarray],
                        *, config: Mapping[str, Any]) -> Path:
    """Write ``figures/`` and ``report.html`` into ``rd``; return the report's path."""
    png = save_figures(rd, {**_grids(samples, summary["reported"]),
                            "curves": curves_figure(records)})
    rm = summary["reward_model"]
    c = summary["bias_contrast"]
    lead: list[SafeHTML] = [html_paragraph(summary["verdict"]), html_paragraph(
        f"Reward model held-out accuracy {rm['heldout_accuracy']:.3f} against the raters' "
        f"own noise ceiling {rm['noise_ceiling']:.3f}.")]
    if summary["hacking"]["seen"]:
        lead.append(html_paragraph(
            "Reward hacking: " + ", ".join(summary["hacking"]["policies"]) + " raised the "
            "proxy above the base while gold fell below it."))
    lead.append(html_image("grid", png["grid"], caption="Base and tuned samples, same seeds"))
    sweep = [html_image("curves", png["curves"]), html_table(
        ["policy", "proxy", "gold", "Vendi q=1", "recall", "precision", "Fréchet"],
        [[r["policy"], r["proxy"], r["gold"], r.get("diversity_vendi_q1"), r["recall"],
          r["precision"], r["frechet"]] for r in records])]
    axes = [html_paragraph(
        f"{summary['reported']} against the base: mean log variance ratio "
        f"{c['perceptual']['value']:+.2f} on perceptual axes, {c['physical']['value']:+.2f} on "
        f"physical ones."), html_table(
        ["axis", "kind", "base mean", "tuned mean", "shift (base sd)", "95% CI",
         "log variance ratio", "95% CI"],
        [[r["axis"], r["kind"], r["ref_mean"], r["tuned_mean"], r["mean_shift_sd"],
          f"[{r['mean_shift_sd_ci'][0]:.2f}, {r['mean_shift_sd_ci'][1]:.2f}]",
          r["log_variance_ratio"],
          f"[{r['log_variance_ratio_ci'][0]:.2f}, {r['log_variance_ratio_ci'][1]:.2f}]"]
         for r in summary["bias_shift"]])]
    edge_rows = []
    for policy, regions in summary["edge_cases"].items():
        for region, e in regions.items():
            edge_rows.append([policy, region, e["share_truth"], e["share_generated"],
                              e["recall"], f"[{e['recall_ci'][0]:.2f}, {e['recall_ci'][1]:.2f}]"])
    edges = [html_table(["policy", "region", "share in truth", "share generated", "recall",
                         "95% CI"], edge_rows)]
    edges += [html_paragraph(f"Iconic mean, {p}: the centroid sits {v['distance']:.2f} truth "
                             "standard deviations from the true one.")
              for p, v in summary["iconic_mean"].items()]
    sections = [("Summary", lead), ("Over-optimisation sweep", sweep),
                ("Per-axis shift: physical against perceptual", axes),
                ("Edge cases and the iconic mean", edges)]
    return rd.write_text("report.html", render_document(
        "rewardshift lab: images", sections, config=dict(config),
        subtitle=f"{summary['size']}px renders with a known physical truth; a diffusers UNet "
                 "pretrained on them, tuned on likes"))
