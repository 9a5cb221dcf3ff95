"""The images job: :func:`rewardshift.images.run.run_images` into a run directory.

``config.json`` first, the engine's stages (resumed when an interrupted run of the same
configuration left them: ``images.json``), then ``metrics.jsonl`` (one record per policy),
``samples/<policy>/<i>.png`` with a Parquet index, ``figures/``, ``report.html`` and, last,
``summary.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift.images.run import ImagesConfig, ImagesResult, run_images
from rewardshift.jobs.base import resume_run_dir
from rewardshift.progress import Progress
from rewardshift.report.images_run import write_images_report
from rewardshift.rundir import RunDir
from rewardshift.samples import Sample, atomic_write, write_samples

__all__ = ["images_job", "write_sample_pngs"]


def write_sample_pngs(rd: RunDir, samples: dict[str, np.ndarray], *,
                      seed: int) -> Path:
    """Every policy's samples as ``samples/<policy>/<i>.png``, ``samples/index.parquet``
    (policy, index, path, seed: row ``i`` of every policy shares its sampling noise) and
    ``samples/<policy>.jsonl``: sample records whose ``image`` is the PNG, so that
    ``rewardshift measure samples/base.jsonl --compare samples/ddpo-8.jsonl`` measures them."""
    import io

    import pandas as pd
    from PIL import Image

    rows: list[dict[str, Any]] = []
    for policy, images in samples.items():
        records = []
        for i, img in enumerate(images):
            png = str(Path(policy) / f"{i:04d}.png")  # relative to samples/, as records read
            rel = str(Path("samples") / png)
            buf = io.BytesIO()
            Image.fromarray(np.asarray(img, dtype=np.uint8), mode="RGB").save(buf, format="PNG")
            rd.write_bytes(rel, buf.getvalue())
            rows.append({"policy": policy, "index": i, "path": rel, "seed": seed})
            records.append(Sample(text="", prompt_id=str(i), source=policy,
                                  image=png,
                                  meta={"seed": seed}))
        write_samples(records, rd.file(f"samples/{policy}.jsonl"))
    index = rd.file("samples/index.parquet")
    with atomic_write(index, "wb") as fh:
        pd.DataFrame(rows).to_parquet(fh, index=False)
    return index


def images_job(config: ImagesConfig, out: str | os.PathLike[str], *,
               progress: Progress | None = None) -> ImagesResult:
    """Run (or resume) the image world into ``out``; returns its result."""
    rd = resume_run_dir(out, "image-world run", config.to_dict(), saved="images.json",
                        config_key="images", seed=config.seed)
    result = run_images(config, rd.path, progress=progress)
    metrics = rd.file("metrics.jsonl")
    if metrics.exists():  # a resumed run recomputes the evaluation: one batch, not two
        metrics.unlink()
    rd.append_metrics(result.records)
    write_sample_pngs(rd, {k: v for k, v in result.samples.items()
                           if not k.startswith("bon-") or k == _best_bon(result)},
                      seed=config.seed)
    write_images_report(rd, result.summary, result.records, result.samples,
                        config=config.to_dict())
    rd.write_json("summary.json", result.summary)
    return result


def _best_bon(result: ImagesResult) -> str:
    names = [k for k in result.samples if k.startswith("bon-")]
    return max(names, key=lambda k: int(k.split("-")[1])) if names else ""
