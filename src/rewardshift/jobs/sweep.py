"""Sweeps: a grid of runs executed serially, in a process pool, or on a Ray cluster.

A sweep is a TOML file::

    name = "shatter-rm-size"          # the sweep's folder under --out
    job = "lab"                       # which job runs each grid point (see JOBS)

    [fixed]                           # the same for every run
    world = "shatter"

    [grid]                            # every combination of these is one run
    seed = [0, 1, 2]
    rm_pairs = [500, 2000]

Each run gets its own run directory, ``<out>/<name>/<key=value,...>/``, and is finished when
its ``summary.json`` exists (jobs write it last, atomically). Re-running a sweep skips finished
runs, so an interrupted sweep resumes without redoing or losing any. A run that fails writes
``error.txt`` and the sweep goes on; ``sweep.jsonl`` collects one line per finished run.

The same job function runs under every executor: ``serial`` (in this process), ``process``
(a ``concurrent.futures`` process pool) or ``ray`` (``ray.remote`` tasks on a local or an
existing cluster, ``--ray-address``). A job is ``job(config: dict, run_dir: str) -> dict``, a
top-level function so that it pickles to workers.
"""

from __future__ import annotations

import importlib
import itertools
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.samples import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["JOBS", "RunSpec", "SweepConfig", "SweepResult", "expand_grid", "load_sweep",
           "run_sweep"]

#: Job name -> "module:function". A job writes its run directory, summary.json last.
JOBS: dict[str, str] = {
    "lab": "rewardshift.jobs.lab:lab_job",
    "measure": "rewardshift.jobs.measure:measure_job",
}
EXECUTORS = ("serial", "process", "ray")
Job = Callable[[dict[str, Any], str], dict[str, Any]]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SweepConfig:
    """A parsed sweep file."""

    name: str
    job: str = "lab"
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise InputError(f"sweep name {self.name!r} must be a plain folder name")
        if self.job not in JOBS:
            raise InputError(f"job {self.job!r} is unknown; choose one of {sorted(JOBS)}")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise InputError(f"grid.{key} must be a non-empty list, got {values!r}")
        both = set(self.fixed) & set(self.grid)
        if both:
            raise InputError(f"{sorted(both)} appear in both [fixed] and [grid]; keep one")


@dataclass(frozen=True)
class RunSpec:
    """One grid point: its folder name and its full configuration."""

    key: str
    config: dict[str, Any]


@dataclass
class SweepResult:
    """What a sweep did: runs finished now, skipped as already done, and failed."""

    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep TOML file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{p}: cannot read sweep file ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: malformed TOML: {exc}") from exc
    unknown = set(data) - {"name", "job", "fixed", "grid"}
    if unknown:
        raise InputError(f"{p}: unknown top-level key(s) {sorted(unknown)}; "
                         "allowed: name, job, [fixed], [grid]")
    if "name" not in data:
        raise InputError(f"{p}: missing 'name' (the sweep's folder name)")
    try:
        return SweepConfig(name=data["name"], job=data.get("job", "lab"),
                           fixed=dict(data.get("fixed", {})), grid=dict(data.get("grid", {})))
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from exc


def _slug(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def expand_grid(cfg: SweepConfig) -> list[RunSpec]:
    """Every combination of the grid, in a fixed order, each with a stable folder name."""
    keys = sorted(cfg.grid)
    specs = []
    for combo in itertools.product(*(cfg.grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        key = ",".join(f"{k}={_slug(v)}" for k, v in point.items()) or "run"
        specs.append(RunSpec(key=key, config={**cfg.fixed, **point}))
    return specs


def resolve_job(name: str) -> Job:
    """The job function registered under ``name`` in :data:`JOBS`."""
    module, _, func = JOBS[name].partition(":")
    return getattr(importlib.import_module(module), func)


def _is_done(run_dir: Path) -> bool:
    return (run_dir / "summary.json").is_file()


def _run_one(job_name: str, config: dict[str, Any], run_dir: str) -> tuple[str, str | None]:
    """Run one job in whatever process this is; return (run_dir, error or None)."""
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        resolve_job(job_name)(config, run_dir)
        if not _is_done(Path(run_dir)):
            return run_dir, "the job returned without writing summary.json"
        return run_dir, None
    except Exception:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
        err = traceback.format_exc()
        with atomic_write(Path(run_dir) / "error.txt") as fh:
            fh.write(err)
        return run_dir, err.strip().splitlines()[-1]


def run_sweep(cfg: SweepConfig, out: str | Path, *, executor: str = "serial",
              max_workers: int | None = None, ray_address: str | None = None,
              progress: Progress | None = None) -> SweepResult:
    """Run every unfinished grid point of ``cfg`` under ``<out>/<name>/``.

    Parameters
    ----------
    executor : "serial", "process" or "ray".
    max_workers : processes for "process" (default: CPU count).
    ray_address : join an existing Ray cluster (e.g. "auto" or "ray://host:10001"); default
        starts a local one.
    progress : called as ``progress(done, total)``.
    """
    if executor not in EXECUTORS:
        raise InputError(f"executor={executor!r}; choose one of {EXECUTORS}")
    root = Path(out) / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    with atomic_write(root / "sweep.json") as fh:
        json.dump({"name": cfg.name, "job": cfg.job, "fixed": cfg.fixed, "grid": cfg.grid},
                  fh, indent=2, sort_keys=True)
    specs = expand_grid(cfg)
    result = SweepResult()
    todo = []
    for spec in specs:
        if _is_done(root / spec.key):
            result.skipped.append(spec.key)
        else:
            todo.append(spec)
    total, done = len(specs), len(result.skipped)
    tick = progress or (lambda *_: None)
    tick(done, total)
    runs = [(cfg.job, s.config, str(root / s.key)) for s in todo]
    for run_dir, err in _execute(runs, executor, max_workers, ray_address):
        key = Path(run_dir).name
        if err is None:
            result.finished.append(key)
        else:
            result.failed[key] = err
        done += 1
        tick(done, total)
    _collect(root, specs)
    return result


def _execute(runs: list[tuple[str, dict, str]], executor: str, max_workers: int | None,
             ray_address: str | None) -> Iterable[tuple[str, str | None]]:
    if executor == "serial":
        for run in runs:
            yield _run_one(*run)
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=max_workers) as pool:
            pending = {pool.submit(_run_one, *run) for run in runs}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        yield fut.result()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    else:
        yield from _execute_ray(runs, ray_address)


def _execute_ray(runs: list[tuple[str, dict, str]], address: str | None
                 ) -> Iterable[tuple[str, str | None]]:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray") from exc
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    try:
        remote = ray.remote(_run_one)
        pending = [remote.remote(*run) for run in runs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def _collect(root: Path, specs: list[RunSpec]) -> None:
    """Write ``sweep.jsonl``: each finished run's config and summary on one line."""
    with atomic_write(root / "sweep.jsonl") as fh:
        for spec in specs:
            path = root / spec.key / "summary.json"
            if path.is_file():
                summary = json.loads(path.read_text(encoding="utf-8"))
                fh.write(json.dumps({"run": spec.key, "config": spec.config,
                                     "summary": summary}, sort_keys=True) + "\n")
