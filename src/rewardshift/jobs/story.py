"""The whole story in one run: measurement, laboratory, real training, audit.

``rewardshift demo --story`` (what ``make demo`` runs) writes four runs side by side and one
report that leads through them, with a table of contents:

1. ``measure/`` -- the example base/tuned generator pair, measured (issue 2);
2. ``lab/`` -- the controlled RLHF laboratory in the shatter world (issue 3);
3. ``lm/`` -- a tiny GPT-2 pretrained on a grammar and tuned with TRL (issue 4);
4. ``audit/`` -- ``rewardshift audit`` on the base and tuned checkpoints of ``lm/`` (issue 5);
5. ``images/`` -- the image world: a diffusion model pretrained on renders with a known
   physical truth, tuned on likes (``lab run images``; tiny in CI, small in ``make demo``).

Each section gives the headline numbers, the key figure and a link to the full report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rewardshift.audit import AuditConfig
from rewardshift.demo import DemoConfig
from rewardshift.jobs.audit import audit_job
from rewardshift.jobs.base import claim_run_dir
from rewardshift.jobs.demo import demo_job
from rewardshift.jobs.lab import run_lab_job
from rewardshift.jobs.lm import lm_job
from rewardshift.lab.run import LabConfig
from rewardshift.lm.run import LMConfig
from rewardshift.measure import MeasureConfig
from rewardshift.progress import Progress, no_progress
from rewardshift.report.kit import html_image, html_link, html_paragraph, render_document

__all__ = ["run_story"]


def _measure_part(out: Path, seed: int, embed: bool) -> dict[str, Any]:
    run = demo_job(DemoConfig(seed=seed), MeasureConfig(embeddings=embed, field="moment",
                                                        seed=seed), out)
    comps = (run.result.summary.get("comparison") or {}).get("metrics", {})
    less = sum(1 for c in comps.values() if c.get("verdict") == "less diverse")
    return {"entropy": run.info["true_entropy_nats"], "n_less_diverse": less,
            "n_compared": len(comps)}


def _lab_part(out: Path, seed: int) -> dict[str, Any]:
    return run_lab_job(LabConfig(world="shatter", seed=seed), out)[0].summary


def _images_part(out: Path, seed: int, small: bool) -> dict[str, Any] | None:
    """The image world at the story's size (tiny in CI); ``None`` without the [images]
    extra, so the story runs on an install without it."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("torch", "diffusers", "skimage")):
        return None
    from rewardshift.images.run import ImagesConfig
    from rewardshift.jobs.images import images_job

    cfg = ImagesConfig.tiny(seed) if small else ImagesConfig.small(seed)
    return images_job(cfg, out).summary


def _figure(run: Path, names: tuple[str, ...]) -> tuple[str, bytes] | None:
    for name in names:
        p = run / "figures" / f"{name}.png"
        if p.is_file():
            return name, p.read_bytes()
    return None


def run_story(out: str | Path, *, small: bool = False, seed: int = 0,
              progress: Progress | None = None) -> Path:
    """Run the five parts into ``out`` and write ``out/report.html``; returns its path.

    ``small`` uses the CI sizes (``lm run --small``, 3 samples per audit prompt, no
    embeddings); the default takes about 5 minutes on 2 CPU cores.
    """
    out = Path(out)
    rd = claim_run_dir(out, "story", marker="report.html")
    tick = progress or no_progress
    times: dict[str, float] = {}
    t = time.perf_counter()
    embed = not small
    m = _measure_part(out / "measure", seed, embed)
    times["measure"] = round(time.perf_counter() - t, 1)
    tick("story: measure", 1, 5)
    t = time.perf_counter()
    lab = _lab_part(out / "lab", seed)
    times["lab"] = round(time.perf_counter() - t, 1)
    tick("story: lab", 2, 5)
    t = time.perf_counter()
    lm = lm_job(LMConfig.small(seed) if small else LMConfig(seed=seed), out / "lm").summary
    times["lm"] = round(time.perf_counter() - t, 1)
    tick("story: lm", 3, 5)
    t = time.perf_counter()
    audit = audit_job(AuditConfig(base=str(out / "lm" / "base"),
                                  tuned=str(out / "lm" / lm["tuned_path"]),
                                  n=3 if small else 8, seed=seed, max_new_tokens=24,
                                  embed=embed), out / "audit").summary
    times["audit"] = round(time.perf_counter() - t, 1)
    tick("story: audit", 4, 5)
    t = time.perf_counter()
    images = _images_part(out / "images", seed, small)
    times["images"] = round(time.perf_counter() - t, 1)
    tick("story: images", 5, 5)

    sections = []
    h = m["entropy"]
    blocks = [html_paragraph(
        f"A base and a reward-tuned generator of breakage descriptions with known entropies "
        f"({h['base']:.2f} vs {h['tuned']:.2f} nats). {m['n_less_diverse']} of "
        f"{m['n_compared']} metric comparisons call the tuned set less diverse.")]
    if fig := _figure(out / "measure", ("distribution_moment", "metrics")):
        blocks.append(html_image(fig[0], fig[1]))
    blocks.append(html_link("measure/report.html", "the full measurement report"))
    sections.append(("1. Measuring a collapse", blocks))

    blocks = [html_paragraph(
        "The exact KL-regularised optimum and best-of-n in a world whose truth is known: "
        "biased raters, a fitted reward model, over-optimisation, the lost edge cases.")]
    if fig := _figure(out / "lab", ("overoptimization", "frames")):
        blocks.append(html_image(fig[0], fig[1]))
    blocks.append(html_link("lab/report.html", "the full laboratory report"))
    sections.append(("2. The laboratory", blocks))

    runs = lm["runs"]
    lines = [f"{name}: proxy {r['final']['proxy']:.2f}, gold {r['final']['gold']:.2f}, "
             f"in grammar {r['final']['in_grammar']:.0%}" for name, r in runs.items()]
    alarms = [f"{run} at step {e['step']}" for run, ev in lm.get("alarms", {}).items()
              for e in ev]
    blocks = [html_paragraph("A GPT-2 pretrained on a grammar with a known distribution, "
                             "tuned with TRL against a reward model of biased raters. "
                             + "; ".join(lines) + ". Alarms: "
                             + (", ".join(alarms) if alarms else "none") + ".")]
    if fig := _figure(out / "lm", ("training_curves",)):
        blocks.append(html_image(fig[0], fig[1]))
    blocks.append(html_link("lm/report.html", "the full training report"))
    sections.append(("3. Real training with TRL", blocks))

    blocks = [html_paragraph(f"rewardshift audit on the base and tuned ({lm['tuned_run']}) "
                             "checkpoints of part 3:")]
    blocks += [html_paragraph(v) for v in audit["verdicts"][:8]]
    blocks.append(html_link("audit/report.html", "the full audit report"))
    sections.append(("4. Auditing the pair", blocks))
    if images is not None:
        blocks = [html_paragraph("A diffusers UNet pretrained on renders of breaking glass "
                                 "with a known physical truth, tuned with DDPO, Diffusion-DPO "
                                 "and best-of-n on a reward model of raters' likes. "
                                 + images["verdict"])]
        if fig := _figure(out / "images", ("grid",)):
            blocks.append(html_image(fig[0], fig[1]))
        blocks.append(html_link("images/report.html", "the full image-world report"))
        sections.append(("5. The image world", blocks))
    sections.append(("Timings", [html_paragraph(", ".join(f"{k} {v} s" for k, v in
                                                          times.items()))]))
    rd.write_json("story.json", {"times": times, "lab": {k: lab.get(k) for k in
                                                         ("report_beta", "seed")},
                                 "lm_tuned": lm["tuned_run"], "verdicts": audit["verdicts"]})
    return rd.write_text("report.html", render_document(
        "rewardshift: the whole story", sections,
        subtitle="measurement → laboratory → real training → audit"))
