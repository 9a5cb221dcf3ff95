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
its ``summary.json`` exists. A run is built in a scratch folder (``<out>/<name>/.partial/``)
and renamed into place in one step, so a run directory is either absent, a failed attempt
(``error.txt``) or complete: re-running a sweep skips finished runs and re-runs the others from
scratch, so an interrupted sweep resumes with no finished run redone, lost or duplicated. A
run that fails writes ``error.txt`` and the sweep goes on; ``sweep.jsonl`` collects one line
per finished run.

The same job function runs under every executor: ``serial`` (in this process), ``process``
(a ``concurrent.futures`` process pool) or ``ray`` (one Ray task per run, with the resources of
:class:`RayOptions`, on a fresh local cluster or an existing one). A Ray task builds its run in
a temporary folder on its worker and sends the files back; the driver writes them into the
same run directory as the other executors, so the cluster needs no shared file system. A Ray
worker that dies mid-run (killed, out of memory, node lost) is retried ``max_retries`` times;
a job that raises is not retried (it would fail again) but recorded. A job is
``job(config: dict, run_dir: str) -> dict``, a top-level function so that it pickles to
workers; it must write ``summary.json`` last.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.config import Config
from rewardshift.progress import Progress
from rewardshift.rundir import RunDir
from rewardshift.samples import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["JOBS", "RayOptions", "RunSpec", "SweepConfig", "SweepResult", "eta_seconds",
           "expand_grid", "load_sweep", "run_sweep", "synthetic_job"]

#: Job name -> "module:function". A job writes its run directory, summary.json last.
JOBS: dict[str, str] = {
    "lab": "rewardshift.jobs.lab:lab_job",
    "measure": "rewardshift.jobs.measure:measure_job",
    "synthetic": "rewardshift.jobs.sweep:synthetic_job",
}
EXECUTORS = ("serial", "process", "ray")
Job = Callable[[dict[str, Any], str], dict[str, Any]]
#: (run key, files of the run directory by relative path, error or None), as a worker returns it
Outcome = tuple[str, dict[str, bytes] | None, str | None]
_PARTIAL = ".partial"


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
class RayOptions(Config):
    """Where and how runs go on Ray: one task per run, with these declared resources."""

    #: cluster to join: "auto", "HOST:PORT" or "ray://HOST:PORT"; None joins $RAY_ADDRESS when
    #: set and otherwise starts a local cluster for this sweep
    address: str | None = None
    #: CPUs each run reserves (Ray schedules no more runs on a node than its CPUs allow)
    num_cpus: float = 1.0
    #: GPUs each run reserves (fractions share a GPU)
    num_gpus: float = 0.0
    #: times a run is retried when its worker process dies (not when the job raises)
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise InputError(f"num_cpus={self.num_cpus}, num_gpus={self.num_gpus}: resources "
                             "cannot be negative")
        if self.num_cpus == 0 and self.num_gpus == 0:
            raise InputError("num_cpus=0 and num_gpus=0: a run must reserve some resource, or "
                             "Ray starts every run at once")
        if self.max_retries < 0:
            raise InputError(f"max_retries={self.max_retries} must be >= 0")


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
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def eta_seconds(elapsed: float, done_now: int, left: int) -> float | None:
    """Seconds until ``left`` more runs finish, at the mean pace of the ``done_now`` runs this
    sweep finished in ``elapsed`` seconds (runs skipped as already done do not count);
    ``None`` before the first run finishes."""
    if left <= 0:
        return 0.0
    if done_now <= 0:
        return None
    return elapsed / done_now * left


def _eta_label(job: str, eta: float | None) -> str:
    """``"sweep: measure runs, ETA 1m05s"``: one task to a display, whatever the ETA says."""
    if eta is None:
        return f"sweep: {job} runs"
    m, s = divmod(round(eta), 60)
    return f"sweep: {job} runs, ETA {m}m{s:02d}s" if m else f"sweep: {job} runs, ETA {s}s"


# --------------------------------------------------------------------------- one run


def _is_done(run_dir: Path) -> bool:
    return (run_dir / "summary.json").is_file()


def _attempt(job_name: str, config: dict[str, Any], run_dir: Path) -> str | None:
    """Run the job into the empty folder ``run_dir``; return None or the error's last line."""
    try:
        run_dir.mkdir(parents=True)
        resolve_job(job_name)(config, str(run_dir))
        if not _is_done(run_dir):
            return "the job returned without writing summary.json"
        return None
    except Exception:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
        err = traceback.format_exc()
        with atomic_write(run_dir / "error.txt") as fh:
            fh.write(err)
        return err.strip().splitlines()[-1]


def _publish(scratch: Path, run_dir: Path) -> None:
    """Move the finished attempt ``scratch`` to ``run_dir`` (replacing an unfinished one)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    os.replace(scratch, run_dir)


def _scratch(root: Path, key: str) -> Path:
    scratch = root / _PARTIAL / key
    if scratch.exists():
        shutil.rmtree(scratch)
    return scratch


def _run_local(job_name: str, config: dict[str, Any], root: str, key: str) -> Outcome:
    """One run in this process (serial or a pool worker), published into ``root/key``."""
    scratch = _scratch(Path(root), key)
    err = _attempt(job_name, config, scratch)
    _publish(scratch, Path(root) / key)
    return key, None, err


def _run_shipped(job_name: str, config: dict[str, Any], key: str) -> Outcome:
    """One run on a (possibly remote) worker: built in a temporary folder, sent back whole."""
    with tempfile.TemporaryDirectory(prefix="rewardshift-run-") as tmp:
        run_dir = Path(tmp) / key
        err = _attempt(job_name, config, run_dir)
        files = {p.relative_to(run_dir).as_posix(): p.read_bytes()
                 for p in sorted(run_dir.rglob("*")) if p.is_file()}
    return key, files, err


def _write_shipped(root: Path, key: str, files: Mapping[str, bytes]) -> None:
    """Write a shipped run's files into its scratch folder, then publish it."""
    scratch = _scratch(root, key)
    for rel in sorted(files, key=lambda r: r == "summary.json"):  # summary.json last
        target = scratch / rel
        if scratch.resolve() not in target.resolve().parents:
            raise InputError(f"run {key}: a worker sent the file {rel!r} outside its run folder")
        with atomic_write(target, "wb") as fh:
            fh.write(files[rel])
    scratch.mkdir(parents=True, exist_ok=True)
    _publish(scratch, root / key)


# --------------------------------------------------------------------------- the sweep


def run_sweep(cfg: SweepConfig, out: str | Path, *, executor: str = "serial",
              max_workers: int | None = None, ray: RayOptions | None = None,
              progress: Progress | None = None) -> SweepResult:
    """Run every unfinished grid point of ``cfg`` under ``<out>/<name>/``.

    Parameters
    ----------
    executor : "serial", "process" or "ray".
    max_workers : processes for "process" (default: CPU count).
    ray : cluster and per-run resources for "ray" (default :class:`RayOptions`).
    progress : called as ``progress("sweep: <job> runs, ETA ...", done, total)`` once at the
        start and after every run, one task whichever executor runs them.
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
    tick(_eta_label(cfg.job, None if todo else 0.0), done, total)
    t0 = time.perf_counter()
    runs = [(cfg.job, s.config, s.key) for s in todo]
    try:
        for key, files, err in _execute(runs, root, executor, max_workers, ray or RayOptions()):
            if files is not None:
                _write_shipped(root, key, files)
            if err is None:
                result.finished.append(key)
            else:
                result.failed[key] = err
            done += 1
            now = len(result.finished) + len(result.failed)
            tick(_eta_label(cfg.job, eta_seconds(time.perf_counter() - t0, now, total - done)),
                 done, total)
    finally:
        _collect(root, specs)
        shutil.rmtree(root / _PARTIAL, ignore_errors=True)
    return result


def _execute(runs: list[tuple[str, dict[str, Any], str]], root: Path, executor: str,
             max_workers: int | None, ray: RayOptions) -> Iterator[Outcome]:
    if executor == "serial":
        for job, config, key in runs:
            yield _run_local(job, config, str(root), key)
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=max_workers) as pool:
            pending = {pool.submit(_run_local, job, config, str(root), key)
                       for job, config, key in runs}
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
        yield from _execute_ray(runs, ray)


def _execute_ray(runs: list[tuple[str, dict[str, Any], str]], opts: RayOptions
                 ) -> Iterable[Outcome]:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray") from exc
    started = not ray.is_initialized()
    if started:
        # a fresh local cluster takes the dashboard-less defaults; joining one takes none
        fresh = opts.address is None and not os.environ.get("RAY_ADDRESS")
        extra: dict[str, Any] = {"include_dashboard": False} if fresh else {}
        ray.init(address=opts.address, log_to_driver=False, **extra)
    try:
        _check_fits(ray.cluster_resources(), opts)
        remote = ray.remote(num_cpus=opts.num_cpus, num_gpus=opts.num_gpus,
                            max_retries=opts.max_retries, retry_exceptions=False)(_run_shipped)
        pending = [remote.remote(*run) for run in runs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def _check_fits(cluster: Mapping[str, float], opts: RayOptions) -> None:
    """Refuse a run that no node could ever schedule (Ray would wait for it forever)."""
    for name, want, flag in (("CPU", opts.num_cpus, "--num-cpus"),
                             ("GPU", opts.num_gpus, "--num-gpus")):
        have = float(cluster.get(name, 0.0))
        if want > have:
            raise InputError(f"each run asks for {want:g} {name}(s) but the Ray cluster has "
                             f"{have:g}; lower {flag} or join a bigger cluster (--address)")


def _collect(root: Path, specs: list[RunSpec]) -> None:
    """Write ``sweep.jsonl``: each finished run's config and summary on one line."""
    with atomic_write(root / "sweep.jsonl") as fh:
        for spec in specs:
            path = root / spec.key / "summary.json"
            if path.is_file():
                summary = json.loads(path.read_text(encoding="utf-8"))
                fh.write(json.dumps({"run": spec.key, "config": spec.config,
                                     "summary": summary}, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- a known job


def synthetic_job(config: Mapping[str, Any], run_dir: str) -> dict[str, Any]:
    """Sweep job with a known answer, to check executors and time them.

    Draws ``n`` (default 1000) standard normals from ``seed`` and summarises them, after
    ``work_s`` seconds (default 0) of CPU work. For tests of fault tolerance: ``log`` (a path)
    gets a line ``start <run> <pid> <assigned Ray resources>`` per attempt; with ``hold`` (a
    path), the attempt waits until that file exists (so a test can kill its worker).
    """
    known = {"seed", "n", "work_s", "log", "hold"}
    unknown = set(config) - known
    if unknown:
        raise InputError(f"synthetic job: unknown key(s) {sorted(unknown)}; allowed {sorted(known)}")
    name = Path(run_dir).name
    if config.get("log"):
        with open(config["log"], "a", encoding="utf-8") as fh:
            fh.write(f"start {name} {os.getpid()} {json.dumps(_ray_resources())}\n")
    if config.get("hold"):
        while not Path(config["hold"]).exists():
            time.sleep(0.02)
    end = time.perf_counter() + float(config.get("work_s", 0.0))
    while time.perf_counter() < end:
        pass
    x = np.random.default_rng(int(config.get("seed", 0))).standard_normal(int(config.get("n", 1000)))
    summary: dict[str, Any] = {"seed": int(config.get("seed", 0)), "n": int(x.size), "mean": float(x.mean()),
               "std": float(x.std()), "max": float(x.max())}
    run = RunDir.create(Path(run_dir).parent, name)
    run.write_config(dict(config), seeds={"seed": summary["seed"]})
    run.append_metrics([summary])
    run.write_json("summary.json", summary)
    return summary


def _ray_resources() -> dict[str, float]:
    """The resources Ray assigned to this worker's task; empty outside a Ray task."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    got = ray.get_runtime_context().get_assigned_resources()
    return {k: float(v) for k, v in got.items()}
