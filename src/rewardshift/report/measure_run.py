"""The report of a measurement: its figures and ``report.html``.

The run directory around it (config, metrics, samples, summary) is written by
:mod:`rewardshift.jobs.measure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._deprecated import moved
from rewardshift.measure import MeasureResult
from rewardshift.rundir import RunDir
from rewardshift.samples import Sample

__all__ = ["embedding_coords", "embedding_map_title", "write_measure_report"]

#: Points drawn in the embedding map at most (a seeded subsample beyond it).
MAX_MAP_POINTS = 4000
#: Example texts shown per source in the report.
PREVIEW = 8


def embedding_coords(embeddings: np.ndarray, *, max_points: int = MAX_MAP_POINTS,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D principal-component coordinates of (a seeded subsample of) the embeddings.

    Returns ``(coords, index)``: coordinates of shape (m, 2) and the sample indices drawn.
    PCA by SVD of the centred matrix; the sign of each axis is fixed (largest loading
    positive) so the same input always gives the same picture.
    """
    n = len(embeddings)
    idx = np.arange(n)
    if n > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    x = embeddings[idx] - embeddings[idx].mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    coords = x @ (axes * signs[:, None]).T
    if coords.shape[1] < 2:  # a single direction: pad a zero axis
        coords = np.column_stack([coords, np.zeros(len(coords))])
    return coords, idx


def embedding_map_title(shown: int, total: int) -> str:
    """The embedding map's title; it says so when the map shows a seeded subsample."""
    title = "Sentence embeddings, first two principal components"
    if shown < total:
        title += f"\n{shown:,} of {total:,} samples shown (seeded subsample)"
    return title


def _preview(samples: Sequence[Sample], seed: int) -> dict[str, list[dict[str, str]]]:
    """A few seeded examples per source: ``{"prompt": ..., "text": ...}`` each, so a
    continuation is read beside the prompt it continues (the report escapes and shortens)."""
    by_source: dict[str, list[Sample]] = {}
    for s in samples:
        by_source.setdefault(s.source, []).append(s)
    rng = np.random.default_rng(seed)
    return {src: [{"prompt": ss[i].prompt or (f"prompt {ss[i].prompt_id}" if ss[i].prompt_id
                                              else ""), "text": ss[i].text}
                  for i in sorted(rng.choice(len(ss), min(PREVIEW, len(ss)), replace=False))]
            for src, ss in by_source.items()}


def write_measure_report(run: RunDir, result: MeasureResult, samples: Sequence[Sample], *,
                         summary: dict[str, Any], config: dict[str, Any],
                         title: str = "rewardshift: diversity report", seed: int = 0,
                         notes: Sequence[str] = ()) -> Path:
    """Write ``figures/`` (PNG and SVG) and a self-contained ``report.html`` into ``run``.

    Returns the path of ``report.html``.
    """
    from rewardshift.report import figures as figs
    from rewardshift.report.html import render_report

    pictures: dict[str, Any] = figs.summary_figures(summary)
    if result.embeddings is not None:
        coords, idx = embedding_coords(result.embeddings, seed=seed)
        labels = [result.sources[i] for i in idx]
        pictures["embedding_map"] = figs.embedding_map_figure(
            coords, labels, title=embedding_map_title(len(idx), len(result.embeddings)))
    png = figs.save_figures(run, pictures)
    html = render_report(summary, title=title, figures=png,
                         samples_preview=_preview(samples, seed), config=config, notes=notes)
    return run.write_text("report.html", html)


__getattr__ = moved(__name__, {"write_measure_run": "rewardshift.jobs.measure"})
