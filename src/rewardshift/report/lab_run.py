"""The report of a laboratory run: its figures and ``report.html`` (see rewardshift.jobs.lab)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._deprecated import moved
from rewardshift.report.figures import save_figures
from rewardshift.report.kit import (
    SafeHTML,
    html_image,
    html_paragraph,
    html_table,
    render_document,
)
from rewardshift.report.lab_figures import (
    axis_shift_figure,
    category_figure,
    overoptimization_figure,
)
from rewardshift.rundir import RunDir

__all__ = ["write_lab_report"]

GRID_SAMPLES = 8  # frames per side in the picture grid


def _curves(records: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for name, opt in (("KL tilt (exact RLHF optimum)", "tilt"), ("best-of-n", "best_of_n")):
        rows = [r for r in records if r["optimizer"] == opt and not r.get("low_ess")]
        rows.sort(key=lambda r: r["d"])
        out[name] = {k: np.array([r[k] for r in rows]) for k in ("d", "proxy", "gold")}
    return out


def _fit_fn(fit: dict[str, Any]):
    a, b, kind = fit["alpha"], fit["beta"], fit["kind"]
    if kind == "bon":
        return lambda d: d * (a - b * d)
    return lambda d: d * (a - b * np.log(np.maximum(d, 1e-12)))


def _shatter_grid(result, seed: int):
    from rewardshift.lab.worlds.shatter import rows_of
    from rewardshift.report.shatter_figures import render_grid

    rng = np.random.default_rng(seed)
    ws, n = result.pool_sample, len(result.pool_sample)
    bi = rng.choice(n, GRID_SAMPLES, replace=False, p=result.base_weights)
    ti = rng.choice(n, GRID_SAMPLES, replace=False, p=result.tuned_weights) \
        if np.count_nonzero(result.tuned_weights) >= GRID_SAMPLES else \
        np.argsort(-result.tuned_weights)[:GRID_SAMPLES]
    beta = result.summary["report_beta"]
    return render_grid(rows_of(ws, bi), rows_of(ws, ti),
                       titles=("base policy: what pretraining gives",
                               f"tuned: KL-regularised optimum at β={beta}"),
                       suptitle="Frames drawn from the base and the tuned policy")


def _category_shares(result, field: str) -> dict[str, dict[str, float]]:
    ws = result.pool_sample
    codes = np.asarray(ws.features[field])
    names = ws.categories.get(field)
    label = (lambda c: names[int(c)]) if names else str
    out = {}
    truth = result.truth_weights
    dists = {"base": result.base_weights, "tuned": result.tuned_weights}
    if truth is not None:
        dists = {"truth": truth, **dists}
    for name, w in dists.items():
        shares = np.bincount(codes.astype(int), weights=w)
        out[name] = {label(c): float(s) for c, s in enumerate(shares) if s > 0 or name == "base"}
    return out


def write_lab_report(run: RunDir, result, *, config: dict[str, Any], seed: int = 0) -> Path:
    """Write the lab run's ``figures/`` and ``report.html`` into ``run``; return the report."""
    s = result.summary
    figs: dict[str, Any] = {}
    oo = s["overoptimization"]
    figs["overoptimization"] = overoptimization_figure(
        _curves(result.records),
        fits={"KL tilt (exact RLHF optimum)": _fit_fn(oo["tilt"]),
              "best-of-n": _fit_fn(oo["best_of_n"])},
        peaks={"KL tilt (exact RLHF optimum)": (oo["tilt"]["d_star"], oo["tilt"]["r_star"]),
               "best-of-n": (oo["best_of_n"]["d_star"], oo["best_of_n"]["r_star"])})
    kinds = {k: v.kind for k, v in result.world.axes.items()}
    rows = [{"kind": kinds.get(r["axis"], "physical"), **r} for r in s["bias_shift"]
            if math.isfinite(r.get("variance_ratio", math.nan))]
    if rows:
        figs["axis_shift"] = axis_shift_figure(
            rows, title=f"Per-axis shift of the tuned policy (β={s['report_beta']})")
    if s["world"] == "shatter":
        figs["frames"] = _shatter_grid(result, seed)
    for fld in result.pool_sample.categories:
        figs[f"categories_{fld}"] = category_figure(_category_shares(result, fld), field=fld)
    png = save_figures(run, figs)
    return run.write_text("report.html", render_document(
        f"rewardshift lab: {s['world']}", _sections(s, png, rows), config=config,
        subtitle=f"{s['n_outcomes']:,} outcomes ({'enumerated' if s['enumerated'] else 'sampled from the base'}); "
                 f"reward model: {s['reward_model']['kind']} on {', '.join(s['reward_model']['features'])}"))


__getattr__ = moved(__name__, {"write_lab_run": "rewardshift.jobs.lab"})


def _sections(s: dict[str, Any], png: dict[str, bytes], rows: list[dict[str, Any]]
              ) -> list[tuple[str, list[SafeHTML]]]:
    from rewardshift.lab.analysis import describe_bias_shift

    oo = s["overoptimization"]
    rm = s["reward_model"]
    alpha = s["alpha"]
    lead = [html_paragraph(
        f"Reward model held-out accuracy {rm['heldout_accuracy']:.3f}. Raters' typicality "
        f"bias α = {alpha['true']} (recovered from the preference pairs: {alpha['estimate']:.3f}, "
        f"95% CI [{alpha['ci'][0]:.3f}, {alpha['ci'][1]:.3f}]).")]
    over = [html_paragraph(
        "Gold (the ground truth) against d = √KL. Proxy reward rises monotonically; gold rises "
        "then falls when the proxy is misspecified (Gao, Schulman & Hilton 2022). Fits: "
        "best-of-n R(d) = d(α − βd), RL R(d) = d(α − β log d).")]
    if "overoptimization" in png:
        over.append(html_image("overoptimization", png["overoptimization"]))
    fit_rows = [[name, f["alpha"], f"[{f['alpha_ci'][0]:.3g}, {f['alpha_ci'][1]:.3g}]",
                 f["beta"], f"[{f['beta_ci'][0]:.3g}, {f['beta_ci'][1]:.3g}]", f["d_star"],
                 f["r_star"]] for name, f in (("KL tilt (RL form)", oo["tilt"]),
                                              ("best-of-n", oo["best_of_n"]))]
    over.append(html_table(["optimiser", "α", "95% CI", "β", "95% CI", "peak d*", "peak R*"],
                           fit_rows))
    shift = [html_paragraph(describe_bias_shift(rows))] if rows else []
    if s.get("bias_contrast"):
        shift.insert(0, html_paragraph(s["bias_contrast"]["verdict"]))
    if "axis_shift" in png:
        shift.append(html_image("axis_shift", png["axis_shift"]))
    shift.append(html_table(
        ["axis", "kind", "base mean", "tuned mean", "variance ratio", "base bias",
         "reward-induced shift", "error tuned", "error base"],
        [[r["axis"], r["kind"], r["base_mean"], r["tuned_mean"], r["variance_ratio"],
          r["base_bias"], r["reward_shift"], r["error"], r["base_error"]] for r in rows]))
    e = s["edge_cases"]
    edges = [html_paragraph(
        "Ground-truth tail outcomes (rarest under the truth): their mass under the base and "
        "the tuned policy, and the share that keep at least "
        f"{e['keep_share']:.0%} of their base mass."),
        html_table(["tail outcomes", "mass truth", "mass base", "mass tuned", "recall"],
                   [[e["n_tail"], e["mass_truth"], e["mass_base"], e["mass_tuned"],
                     e["recall"]]])]
    div = s.get("diversity") or {}
    if div:
        edges.append(html_paragraph(
            "Diversity of outcomes drawn from each policy (2,000 draws; standardised numeric "
            "axes as vectors): Vendi score (q = 1, higher = more diverse), 1 − mean cosine, "
            "and the share of distinct outcomes."))
        edges.append(html_table(["policy", "Vendi (q=1)", "embedding diversity",
                                 "distinct share"],
                                [[k, v["vendi_q1"], v["embedding_diversity"],
                                  v["distinct_share"]] for k, v in div.items()]))
    sections = [("Summary", lead), ("Over-optimisation", over),
                (f"Bias shift per axis at β={s['report_beta']}", shift), ("Edge cases and diversity", edges)]
    pics = [html_image(n, b) for n, b in png.items()
            if n == "frames" or n.startswith("categories_")]
    if pics:
        sections.insert(1, ("What tuning keeps", pics))
    return sections
