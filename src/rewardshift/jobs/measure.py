"""The measure job: samples → :func:`rewardshift.measure.measure` → run directory → report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardshift.measure import MeasureConfig, MeasureResult, measure
from rewardshift.progress import Progress
from rewardshift.report.measure_run import write_measure_report
from rewardshift.rundir import RunDir
from rewardshift.samples import Sample, read_samples

__all__ = ["measure_job", "measure_samples_job", "write_measure_run"]


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
                                                            "measure": config_dict(config)}
    report = write_measure_run(result, samples, out, config=run_config, title=title,
                               seed=config.seed, extra_summary=extra_summary, notes=notes)
    return result, report


def config_dict(config: Any) -> dict[str, Any]:
    """A config as ``config.json`` records it (its ``to_dict`` where it has one)."""
    import dataclasses

    return config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)


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
