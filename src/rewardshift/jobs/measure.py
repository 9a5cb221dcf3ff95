"""The measure job: samples → :func:`rewardshift.measure.measure` → run directory → report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardshift.images.measure_images import ImageMeasureResult
from rewardshift.measure import MeasureConfig, MeasureResult, measure
from rewardshift.progress import Progress
from rewardshift.report.measure_run import write_measure_report
from rewardshift.rundir import RunDir
from rewardshift.samples import Sample, read_samples

__all__ = ["measure_image_folders_job", "measure_job", "measure_samples_job",
           "write_measure_run"]


def write_measure_run(result: MeasureResult, samples: Sequence[Sample], out: str | Path, *,
                      config: dict[str, Any], title: str = "rewardshift: diversity report",
                      seed: int = 0, extra_summary: dict[str, Any] | None = None,
                      notes: Sequence[str] = ()) -> Path:
    """Write ``config.json``, ``metrics.jsonl``, ``samples.parquet``, ``figures/``,
    ``report.html`` and, last, ``summary.json`` into ``out``.

    Returns the path of ``report.html``. Every file is written atomically; the summary's
    presence marks a finished run.
    """
    run = RunDir.create(Path(out).parent, Path(out).name)
    run.write_config(config, seeds={"measure": seed})
    summary = dict(result.summary)
    if extra_summary:
        summary.update(extra_summary)
    run.append_metrics(result.records)
    run.write_samples(samples)
    report = write_measure_report(run, result, samples, summary=summary, config=config,
                                  title=title, seed=seed, notes=notes)
    run.write_json("summary.json", summary)
    return report


def measure_samples_job(samples: Sequence[Sample], config: MeasureConfig, out: str | Path, *,
                        base: str | None = None, tuned: str | None = None,
                        progress: Progress | None = None,
                        run_config: dict[str, Any] | None = None,
                        title: str = "rewardshift: diversity report",
                        extra_summary: dict[str, Any] | None = None,
                        notes: Sequence[str] = ()) -> tuple[MeasureResult, Path]:
    """Measure ``samples`` and write the run directory ``out``; returns the result and the
    report's path. ``run_config`` is what ``config.json`` records (default: the config)."""
    result = measure(samples, config, base=base, tuned=tuned, progress=progress)
    run_config = run_config if run_config is not None else {"job": "measure",
                                                            "measure": config.to_dict()}
    report = write_measure_run(result, samples, out, config=run_config, title=title,
                               seed=config.seed, extra_summary=extra_summary, notes=notes)
    return result, report


def measure_job(config: Mapping[str, Any], run_dir: str) -> dict[str, Any]:
    """Sweep job: measure a sample file (``config["samples"]``, optional ``config["compare"]``).

    Lets a sweep run ``rewardshift measure`` over many files or settings; the remaining
    config keys are :class:`~rewardshift.measure.MeasureConfig` fields.
    """
    cfg = dict(config)
    samples = read_samples(cfg.pop("samples"))
    compare = cfg.pop("compare", None)
    base = tuned = None
    if compare:
        other = read_samples(compare)
        base, tuned = samples[0].source, other[0].source
        samples = samples + other
    mcfg = MeasureConfig.from_dict(cfg)
    result = measure(samples, mcfg, base=base, tuned=tuned)
    write_measure_run(result, samples, run_dir, config=dict(config), seed=mcfg.seed)
    return result.summary


def measure_image_folders_job(base_dir: str | Path, tuned_dir: str | Path | None,
                              out: str | Path, *, skip_bad: bool = False, seed: int = 0,
                              n_boot: int = 200) -> tuple[ImageMeasureResult, Path]:
    """Measure a folder of images, or a sample file whose records carry images (and compare
    it with a second one); write the run
    directory ``out`` (``config.json``, ``metrics.jsonl``, ``figures/``, ``report.html`` and,
    last, ``summary.json``). Returns the result and the report's path.

    The sets are named by their folders (``base``/``tuned`` when the names clash); files
    left out with ``skip_bad`` are listed in the summary's ``skipped_files``.
    """
    from rewardshift.images.folder import read_images
    from rewardshift.images.measure_images import measure_image_sets
    from rewardshift.report.images_measure import write_images_measure_report

    dirs = [Path(base_dir)] + ([Path(tuned_dir)] if tuned_dir is not None else [])
    names = [(d.resolve().name if d.is_dir() else d.stem) or "images" for d in dirs]
    if len(names) == 2 and names[0] == names[1]:
        names = ["base", "tuned"]
    folders = {n: read_images(d, skip_bad=skip_bad) for n, d in zip(names, dirs, strict=True)}
    pair = (names[0], names[1]) if len(names) == 2 else (None, None)
    result = measure_image_sets({n: f.images for n, f in folders.items()}, base=pair[0],
                                tuned=pair[1], seed=seed, n_boot=n_boot)
    summary = dict(result.summary)
    summary["folders"] = {n: str(d) for n, d in zip(names, dirs, strict=True)}
    summary["skipped_files"] = [list(b) for f in folders.values() for b in f.bad]
    config = {"job": "measure-images", "samples": str(dirs[0]),
              "compare": str(dirs[1]) if len(dirs) == 2 else None, "skip_bad": skip_bad,
              "n_boot": n_boot}
    run = RunDir.create(Path(out).parent, Path(out).name)
    run.write_config(config, seeds={"measure": seed})
    run.append_metrics(result.records)
    report = write_images_measure_report(run, summary, {n: f.images for n, f in folders.items()},
                                         config=config)
    run.write_json("summary.json", summary)
    return ImageMeasureResult(summary=summary, records=result.records), report
