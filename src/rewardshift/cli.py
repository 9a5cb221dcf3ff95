"""``rewardshift`` command line: builds objects, calls the library, renders.

Exit codes: 0 success; 2 bad input (a file, an argument: the message says what and where);
1 an unexpected error (a bug: please report it with the traceback).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rewardshift._exceptions import InputError, RewardshiftError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure reward-induced bias shift: how preference tuning narrows "
                       "what a model generates.")
console = Console(stderr=True)


def _out() -> Console:
    """Console for results: the terminal's width, or a wide page when piped to a file."""
    return Console(width=None if sys.stdout.isatty() else 160)
T = TypeVar("T")


#: The command-line option that sets each config field a library error may name.
FLAGS = {"backend": "--backend", "probes": "--probes", "n": "--n", "base_url": "--base-url",
         "base": "--base", "tuned": "--tuned", "quality_field": "--quality",
         "quality_threshold": "--quality-min", "field": "--field", "skip_bad": "--skip-bad",
         "tokenizer": "--tokenizer", "across_mode": "--across", "n_resamples": "--resamples",
         "export_prompts": "--export-prompts", "entropy_unit": "--entropy-unit"}


def error_text(exc: BaseException) -> str:
    """A library error as the command line says it: the message, then the option that sets
    the field at fault (library messages name config fields, never flags)."""
    text = str(exc)
    flag = FLAGS.get(getattr(exc, "option", None) or "")
    if flag is None and isinstance(exc, InputError) and "choose another output folder" in text:
        flag = "--out"
    return f"{text} [option {flag}]" if flag else text


def _run(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn every intended error into a clear message and exit code 2."""
    try:
        return fn()
    except RewardshiftError as exc:
        console.print(f"[bold red]error:[/] {escape(error_text(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: files already written are complete; "
                      "nothing half-written was left[/]")
        raise typer.Exit(130) from None


#: Without a terminal, a plain progress line at least this often (seconds).
HEARTBEAT_S = 30.0


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress display; yields ``update(stage, done, total)``.

    On a terminal, rich bars. Elsewhere (CI, nohup, a notebook) plain lines: one when a stage
    starts or finishes, and one at least every :data:`HEARTBEAT_S` seconds while a step runs.
    """
    if not console.is_terminal:
        with _plain_progress(HEARTBEAT_S) as update:
            yield update
        return
    with Progress(TextColumn("[bold]{task.description:<24}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=False, disable=not console.is_terminal) as prog:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            key = stage.split(":")[0]
            if key not in tasks:
                tasks[key] = prog.add_task(stage, total=total)
            prog.update(tasks[key], completed=done, total=total, description=stage)

        yield update


@contextmanager
def _plain_progress(every: float) -> Iterator[Callable[[str, int, int], None]]:
    """Plain progress lines on stderr, with a heartbeat so that silence never lasts ``every`` s."""
    import threading

    t0 = time.monotonic()
    state: dict[str, Any] = {"line": "starting", "stage": "", "last": t0}
    lock = threading.Lock()
    stop = threading.Event()

    def say(text: str) -> None:
        now = time.monotonic()
        console.print(f"[{_clock(now - t0)}] {escape(text)}", highlight=False, soft_wrap=True)
        state["last"] = now

    def update(stage: str, done: int, total: int) -> None:
        with lock:
            line = f"{stage} {done}/{total}"
            new_stage = stage != state["stage"]
            state["line"], state["stage"] = line, stage
            if new_stage or done in (0, total) or time.monotonic() - state["last"] >= every:
                say(line)

    def beat() -> None:
        while not stop.wait(min(every, 5.0)):
            with lock:
                if time.monotonic() - state["last"] >= every:
                    say(f"still working: {state['line']}")

    thread = threading.Thread(target=beat, name="rewardshift-progress", daemon=True)
    thread.start()
    try:
        yield update
    finally:
        stop.set()
        thread.join(timeout=1.0)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m:02d}:{s:02d}"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_table(summary: dict[str, Any]) -> Table:
    """The metrics table: value and CI per source; change and p-value for a comparison."""
    from rewardshift.metrics.stats import HIGHER
    from rewardshift.report.kit import fmt_comparison_p

    comp = summary.get("comparison")
    names = list(summary["sources"])
    table = Table(title="diversity (↑/↓ = direction that is more diverse)", show_lines=False)
    table.add_column("metric", no_wrap=True)
    table.add_column("scope")
    for n in names:
        table.add_column(f"{n} [95% CI]", justify="right")
    if comp:
        for col in ("change", "p", "verdict"):
            table.add_column(col, justify="right")
    metrics = list(dict.fromkeys(m for s in summary["sources"].values() for m in s["metrics"]))
    for m in metrics:
        first = next(s["metrics"][m] for s in summary["sources"].values() if m in s["metrics"])
        arrow = "↑" if first["direction"] == HIGHER else "↓"
        row = [f"{m} {arrow}", "per input" if first["per_input"] else "across inputs"]
        for n in names:
            e = summary["sources"][n]["metrics"].get(m)
            if e is None or e["value"] is None:
                row.append("—")
            else:
                ci = f" [{_fmt(e['ci'][0])}, {_fmt(e['ci'][1])}]" if e["ci"] else ""
                row.append(f"{_fmt(e['value'])}{ci}")
        if comp:
            c = comp["metrics"].get(m)
            if c is None:
                row += ["—", "—", ""]
            else:
                rel = c.get("relative_change")
                change = _fmt(c["change"]) + (f" ({rel:+.0%})" if rel is not None else "")
                style = {"less diverse": "red", "more diverse": "green",
                         "no practical change": "yellow"}.get(c["verdict"], "dim")
                row += [change, fmt_comparison_p(c, prefix=False, missing="—"),
                        f"[{style}]{c['verdict']}[/]"]
        table.add_row(*row)
    return table


def _print_result(summary: dict[str, Any]) -> None:
    _out().print(render_table(summary))
    for fam, why in (summary.get("skipped") or {}).items():
        console.print(f"[dim]skipped {fam}: {escape(str(why))}[/]")


C = TypeVar("C")


def _chosen_config(path: Path | None, small: bool, load: Callable[[Path], C], cls: Any) -> C:
    """The config of ``--config PATH``, else ``cls.small()`` with ``--small``, else defaults."""
    if path is not None and small:
        raise InputError("give either --config or --small, not both")
    if path is not None:
        return load(path)
    return cls.small() if small else cls()


def _override(cfg: C, **flags: Any) -> C:
    """``cfg`` with the flags the user gave (not ``None``) replacing its fields, re-validated."""
    given = {k: v for k, v in flags.items() if v is not None}
    return dataclasses.replace(cfg, **given) if given else cfg  # type: ignore[type-var]


def _load_pair(samples_path: Path, compare: Path | None, base: str | None, tuned: str | None):
    """The samples to measure, the base and tuned names, and where the names came from.

    With a second file, each file's own ``source`` is kept when each file holds one and
    the two differ; otherwise (a clash, or several sources in a file) the samples are
    relabelled with the file names, and the returned record says so.
    """
    from rewardshift.samples import Sample, read_samples

    first = read_samples(samples_path)
    if compare is None:
        return first, base, tuned, None
    if base or tuned:
        raise InputError("--base/--tuned name sources inside one file; with --compare the two "
                         "files are the base and the tuned set")
    second = read_samples(compare)
    own_a, own_b = {s.source for s in first}, {s.source for s in second}
    if len(own_a) == 1 and len(own_b) == 1 and own_a != own_b and "" not in own_a | own_b:
        (a,), (b,) = own_a, own_b  # the files' own source names: kept
        stems = (a, b) == (samples_path.stem, compare.stem)
        names: dict[str, Any] = {"base": a, "tuned": b,
                                 "from": "file names" if stems else "samples"}
        return first + second, a, b, names
    a, b = samples_path.stem, compare.stem
    if a == b:
        a, b = f"{a} (base)", f"{b} (tuned)"

    def relabel(ss: list[Sample], name: str) -> list[Sample]:
        return [dataclasses.replace(s, source=name) for s in ss]

    why = ("the two files share a source name" if own_a & own_b else
           "a file holds more than one source")
    names = {"base": a, "tuned": b, "from": "file names",
             "replaced": {"base": sorted(own_a), "tuned": sorted(own_b), "why": why}}
    return relabel(first, a) + relabel(second, b), a, b, names


@app.command("measure")
def measure_cmd(
    samples: Path = typer.Argument(..., help="samples (.jsonl or .parquet); the base set "
                                   "when --compare is given"),
    compare: Path | None = typer.Option(None, "--compare", help="a second sample file (the "
                                        "tuned set) to compare against SAMPLES"),
    out: Path | None = typer.Option(None, "--out", help="run directory (default runs/<name>)"),
    metrics: str | None = typer.Option(None, "--metrics", help="comma-separated metric or "
                                       "family names (default: all that apply)"),
    base: str | None = typer.Option(None, help="source name of the base set, within one file"),
    tuned: str | None = typer.Option(None, help="source name of the tuned set, within one file"),
    tokenizer: str = typer.Option("word", help="word (default: lower-cased words and "
                                   "punctuation) | word-cased | whitespace (str.split, as "
                                   "papers that split on whitespace) | a Hugging Face "
                                   "tokenizer path"),
    embedding_model: str | None = typer.Option(None, help="sentence-transformers model path "
                                               "or name (default: bundled all-MiniLM-L6-v2)"),
    embeddings: bool = typer.Option(True, "--embeddings/--no-embeddings",
                                    help="compute embedding metrics"),
    field: str | None = typer.Option(None, help="meta field with a categorical attribute "
                                     "(its histogram, divergences and entropy per prompt)"),
    entropy_unit: str = typer.Option("nats", help="unit of the field's entropies: nats | "
                                     "bits"),
    quality: str | None = typer.Option(None, help="meta field with a quality score"),
    quality_min: float | None = typer.Option(None, help="keep samples with quality >= this"),
    across: str = typer.Option("one_per_prompt", help="across-input set: one_per_prompt|pooled"),
    resamples: int = typer.Option(100, help="jackknife / set-permutation resamples"),
    seed: int = typer.Option(0, help="seed of every random choice"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="image folders: leave out files "
                                  "that are not usable RGB images (and say which)"),
) -> None:
    """Measure diversity of generations, optionally compare a base and a tuned set.

    SAMPLES may be a folder of PNG/JPEG images, or a sample file whose records carry an
    "image" (a path or a data URI), and --compare a second one: then every image measure is
    given with its CI, and the comparison of the two sets.
    """
    from rewardshift.jobs.measure import measure_samples_job
    from rewardshift.measure import MeasureConfig

    if _holds_images(samples):
        _run(lambda: _measure_images(samples, compare, out, skip_bad=skip_bad, seed=seed))
        return

    def go() -> None:
        t0 = time.perf_counter()
        if skip_bad:
            raise InputError("--skip-bad applies to folders of images; sample files report "
                             "every malformed line instead")
        cfg = MeasureConfig(
            metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics
            else None, tokenizer=tokenizer, embedding_model=embedding_model,
            embeddings=embeddings, field=field, entropy_unit=entropy_unit,
            quality_field=quality,
            quality_threshold=quality_min, across_mode=across, n_resamples=resamples,
            seed=seed)
        data, b, t, names = _load_pair(samples, compare, base, tuned)
        if names and "replaced" in names:
            console.print(f"[dim]sources named by file: {escape(b)} and {escape(t)} "
                          f"({escape(names['replaced']['why'])})[/]")
        name = samples.stem + (f"-vs-{compare.stem}" if compare else "")
        run_dir = out or Path("runs") / name
        with _progress() as update:
            result, report = measure_samples_job(
                data, cfg, run_dir, base=b, tuned=t, progress=update,
                extra_summary={"source_names": names} if names else None, run_config={
                    "job": "measure", "samples": str(samples),
                    "compare": str(compare) if compare else None, "measure": cfg.to_dict()})
        _print_result(result.summary)
        console.print(f"wrote {report.parent}/ (report.html, summary.json) in "
                      f"{time.perf_counter() - t0:.1f} s")

    _run(go)


def _holds_images(path: Path) -> bool:
    """A folder, or a sample file whose records carry an ``image`` (needs the images extra
    only then)."""
    if path.is_dir():
        return True
    try:
        from rewardshift.images.folder import holds_images

        return holds_images(path)
    except ImportError:  # pragma: no cover - the core install measures text only
        return False
    except InputError:
        return False  # the text path reports the malformed line


def _measure_images(base: Path, compare: Path | None, out: Path | None, *, skip_bad: bool,
                    seed: int) -> None:
    """``rewardshift measure FOLDER [--compare FOLDER]``: the image path of measure."""
    from rewardshift.jobs.measure import measure_image_folders_job

    t0 = time.perf_counter()
    if compare is not None and not _holds_images(compare):
        raise InputError(f"{compare}: SAMPLES holds images, so --compare must be a folder of "
                         "images or a sample file with an 'image' field too")
    run_dir = out or Path("runs") / (base.stem + (f"-vs-{compare.stem}" if compare else ""))
    result, report = measure_image_folders_job(base, compare, run_dir, skip_bad=skip_bad,
                                               seed=seed)
    s = result.summary
    for path, why in s["skipped_files"]:
        console.print(f"[yellow]skipped {escape(path)}[/]: {escape(why)}", highlight=False)
    _out().print(render_image_table(s))
    console.print(f"wrote {report.parent}/ (report.html, summary.json) in "
                  f"{time.perf_counter() - t0:.1f} s")


def render_image_table(summary: dict[str, Any]) -> Table:
    """The image measures: value and CI per set; change, p and verdict for a comparison."""
    from rewardshift.report.images_measure import fmt_ci
    from rewardshift.report.kit import fmt_value

    sets, comp = summary["sets"], summary.get("comparison")
    table = Table(title="image measures (value [95% CI])")
    for col in ("measure", "kind", *sets):
        table.add_column(col, justify="left" if col in ("measure", "kind") else "right")
    if comp:
        for col in ("change", "p", "verdict"):
            table.add_column(col, justify="right")
    for m in dict.fromkeys(m for s in sets.values() for m in s["measures"]):
        kind = next(s["measures"][m]["kind"] for s in sets.values() if m in s["measures"])
        row = [m, kind, *[fmt_ci(s["measures"].get(m)) for s in sets.values()]]
        if comp:
            c = comp["measures"].get(m) or {}
            row += [fmt_value(c.get("change")), fmt_value(c.get("p_value")),
                    c.get("verdict", "")]
        table.add_row(*row)
    if comp:
        for m, e in comp["between"].items():
            table.add_row(m, f"{comp['tuned']} vs {comp['base']}", fmt_ci(e),
                          *[""] * (len(sets) - 1), "", "", "")
    return table


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), help="run directory"),
    prompts: int = typer.Option(40, help="number of prompts"),
    k: int = typer.Option(8, help="samples per prompt"),
    alpha: float = typer.Option(0.6, help="raters' typicality weight α"),
    beta: float = typer.Option(0.5, help="KL strength β of the tuned generator"),
    embeddings: bool = typer.Option(True, "--embeddings/--no-embeddings"),
    seed: int = typer.Option(0),
    story: bool = typer.Option(False, "--story", help="the whole story: this measurement, the "
                               "laboratory, real TRL training and an audit of the trained "
                               "pair, in one report (about 5 min; what `make demo` runs)"),
    small: bool = typer.Option(False, "--small", help="with --story: the CI sizes (~1.5 min)"),
) -> None:
    """Generate the example base/tuned pair (known entropies), measure it, write a report."""
    if story:
        from rewardshift.jobs.story import run_story

        def go_story() -> None:
            t0 = time.perf_counter()
            with _progress() as update:
                report = run_story(out, small=small, seed=seed, progress=update)
            console.print(f"wrote {report} in {time.perf_counter() - t0:.1f} s")

        _run(go_story)
        return
    from rewardshift.demo import DemoConfig
    from rewardshift.jobs.demo import demo_job
    from rewardshift.measure import MeasureConfig

    def go() -> None:
        t0 = time.perf_counter()
        dcfg = DemoConfig(n_prompts=prompts, samples_per_prompt=k, alpha=alpha, beta=beta,
                          seed=seed)
        cfg = MeasureConfig(embeddings=embeddings, field="moment", seed=seed)
        with _progress() as update:
            run = demo_job(dcfg, cfg, out, progress=update)
        _print_result(run.result.summary)
        _out().print(run.truth)
        console.print(f"wrote {run.report} in {time.perf_counter() - t0:.1f} s")

    _run(go)


lab_app = typer.Typer(no_args_is_help=True, help="The controlled RLHF laboratory.")
app.add_typer(lab_app, name="lab")


@lab_app.command("run")
def lab_run_cmd(
    world: str = typer.Argument("shatter", help="shatter | personas | images (a diffusion "
                                "model pretrained on renders and tuned on likes)"),
    beta: float = typer.Option(0.5, help="β of the tuned policy analysed and pictured"),
    rm: str = typer.Option("linear", help="reward model: linear | mlp"),
    rm_pairs: int = typer.Option(2000, help="preference pairs the reward model is fitted on"),
    rm_visible: str | None = typer.Option(None, help="comma-separated features the RM sees "
                                          "(default: those the raters weigh)"),
    ensemble: int = typer.Option(1, help="reward-model ensemble members"),
    ensemble_agg: str = typer.Option("mean", help="mean | min | mean_minus_std"),
    n_pool: int = typer.Option(200_000, help="outcomes sampled from the base policy"),
    out: Path | None = typer.Option(None, help="run directory (default runs/lab-<world>)"),
    small: bool = typer.Option(False, "--small", help="images: the CI size (minutes)"),
    seed: int = typer.Option(0),
) -> None:
    """One laboratory run: raters → reward model → exact optimisers → analyses → report."""
    from rewardshift.jobs.lab import run_lab_job
    from rewardshift.lab.run import LabConfig

    if world == "images":
        _run(lambda: _lab_images(out or Path("runs") / "lab-images", small=small, seed=seed))
        return

    def go() -> None:
        t0 = time.perf_counter()
        cfg = LabConfig(world=world, report_beta=beta, rm=rm, rm_pairs=rm_pairs,
                        rm_visible=tuple(rm_visible.split(",")) if rm_visible else None,
                        ensemble=ensemble, ensemble_agg=ensemble_agg, n_pool=n_pool, seed=seed)
        with _progress() as update:
            result, report = run_lab_job(cfg, out or Path("runs") / f"lab-{world}",
                                         progress=update)
        _out().print(render_lab(result.summary))
        console.print(f"wrote {report} in {time.perf_counter() - t0:.1f} s")

    _run(go)


def _lab_images(out: Path, *, small: bool, seed: int) -> None:
    """``lab run images``: the image world (resumes an interrupted run in ``out``)."""
    from rewardshift.images.run import ImagesConfig
    from rewardshift.jobs.images import images_job

    t0 = time.perf_counter()
    cfg = ImagesConfig.small(seed) if small else ImagesConfig(seed=seed)
    with _progress() as update:
        result = images_job(cfg, out, progress=update)
    s = result.summary
    t = Table(title="lab: images", show_header=False)
    rm = s["reward_model"]
    t.add_row("reward model held-out accuracy",
              f"{rm['heldout_accuracy']:.3f} (raters' noise ceiling {rm['noise_ceiling']:.3f})")
    for r in result.records:
        t.add_row(r["policy"], f"proxy {r['proxy']:+.3f}, gold {r['gold']:.1f}, recall "
                  f"{r['recall']:.2f}, Fréchet {r['frechet']:.2f}")
    t.add_row("perceptual vs physical", s["verdict"])
    if s["hacking"]["seen"]:
        t.add_row("reward hacking", ", ".join(s["hacking"]["policies"]))
    _out().print(t)
    console.print(f"wrote {out / 'report.html'} in {time.perf_counter() - t0:.1f} s")


def render_lab(s: dict[str, Any]) -> Table:
    """The headline numbers of a lab run."""
    from rewardshift.lab.analysis import describe_bias_shift

    t = Table(title=f"lab: {s['world']}", show_header=False)
    rm, a, oo = s["reward_model"], s["alpha"], s["overoptimization"]
    t.add_row("reward model held-out accuracy", f"{rm['heldout_accuracy']:.3f}")
    t.add_row("raters' α (true / recovered, 95% CI)",
              f"{a['true']} / {a['estimate']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}]")
    for name, key in (("KL tilt", "gold_peak_tilt"), ("best-of-n", "gold_peak_bon")):
        p = oo[key]
        verdict = "then falls (over-optimisation)" if p["turns_down"] else "never turns down"
        t.add_row(f"{name}: gold peak", f"{p['gold']:+.3f} at d = {p['d']:.2f}, {verdict}")
    t.add_row(f"bias shift at β={s['report_beta']}", describe_bias_shift(s["bias_shift"]))
    if s.get("bias_contrast"):
        t.add_row("perceptual vs physical", s["bias_contrast"]["verdict"])
    e = s["edge_cases"]
    t.add_row("edge cases (truth's rarest 5%)",
              f"mass {e['mass_base']:.3f} → {e['mass_tuned']:.3f}, recall {e['recall']:.2f}")
    return t


@lab_app.command("sweep")
def lab_sweep_cmd(
    config: Path = typer.Argument(..., help="sweep TOML: name, job, [fixed], [grid]"),
    out: Path = typer.Option(Path("runs"), help="root folder; runs go to OUT/<name>/<key>/"),
    executor: str = typer.Option("serial", help="serial | process | ray"),
    workers: int | None = typer.Option(None, help="processes for --executor process"),
    address: str | None = typer.Option(
        None, "--address", "--ray-address",
        help="Ray cluster to join: auto | HOST:PORT | ray://HOST:PORT (default: $RAY_ADDRESS, "
             "else a fresh local cluster)"),
    num_cpus: float = typer.Option(1.0, help="CPUs each run reserves on Ray"),
    num_gpus: float = typer.Option(0.0, help="GPUs each run reserves on Ray (0.5 shares one)"),
    retries: int = typer.Option(3, help="retries of a run whose Ray worker dies"),
) -> None:
    """Run every grid point of a sweep; finished runs are skipped, so it resumes."""
    from rewardshift.jobs.sweep import RayOptions, load_sweep, run_sweep

    def go() -> None:
        cfg = load_sweep(config)
        ray = RayOptions(address=address, num_cpus=num_cpus, num_gpus=num_gpus,
                         max_retries=retries)
        with _progress() as update:
            res = run_sweep(cfg, out, executor=executor, max_workers=workers, ray=ray,
                            progress=update)
        console.print(f"{len(res.finished)} finished, {len(res.skipped)} already done, "
                      f"{len(res.failed)} failed → {out / cfg.name}/sweep.jsonl")
        for key, err in res.failed.items():
            console.print(f"[red]failed[/] {key}: {escape(str(err))} "
                          f"(see {out / cfg.name / key}/error.txt)", highlight=False)
        if res.failed:
            raise typer.Exit(1)

    _run(go)


lm_app = typer.Typer(no_args_is_help=True, help="Real preference tuning of a tiny LM (TRL).")
app.add_typer(lm_app, name="lm")


@lm_app.command("run")
def lm_run_cmd(
    config: Path | None = typer.Option(None, "--config", help="TOML or JSON file of LMConfig "
                                       "fields (sections pretrain, raters, reward, dpo; a list "
                                       "of [[grpo]] runs)"),
    out: Path = typer.Option(Path("runs/lm"), "--out", help="run directory (must not hold a "
                             "finished run)"),
    small: bool = typer.Option(False, "--small", help="the small CI configuration (~1 min)"),
    seed: int | None = typer.Option(None, help="seed of every step (overrides the config)"),
    monitor: bool = typer.Option(True, "--monitor/--no-monitor",
                                 help="attach the training monitor to the GRPO runs"),
    report_to: str | None = typer.Option(None, "--report-to", help="trackers TRL logs to, "
                                         "e.g. tensorboard (default: none; the run directory "
                                         "always gets every number)"),
) -> None:
    """Grammar -> pretrain GPT-2 -> raters -> TRL reward model -> GRPO, DPO, best-of-n ->
    measure every checkpoint -> report."""
    from rewardshift.jobs.lm import lm_job
    from rewardshift.lm.run import LMConfig, load_lm_config

    def go() -> None:
        t0 = time.perf_counter()
        cfg = _override(_chosen_config(config, small, load_lm_config, LMConfig),
                        seed=seed, monitor=None if monitor else False, report_to=report_to)
        with _progress() as update:
            s = lm_job(cfg, out, progress=update).summary
        t = Table(title=f"lm run → {out}")
        for col in ("policy", "proxy", "gold", "in grammar", "√KL", "distinct-2 (per input)"):
            t.add_column(col)
        rows = [("base", s["runs"][s["tuned_run"]]["first"])] + [
            (n, r["final"]) for n, r in s["runs"].items()]
        for name, r in rows:
            t.add_row(name, f"{r['proxy']:.2f}", f"{r['gold']:.2f}", f"{r['in_grammar']:.0%}",
                      f"{r['sqrt_kl']:.2f}", f"{r.get('within_distinct_2', float('nan')):.2f}")
        _out().print(t)
        for run, events in s.get("alarms", {}).items():
            for e in events:
                console.print(f"[yellow]alarm[/] {run} step {e['step']}: {escape(e['message'])}",
                              highlight=False)
        console.print(f"wrote {out / 'report.html'} in {time.perf_counter() - t0:.1f} s")

    _run(go)


@app.command("audit")
def audit_cmd(
    base: str | None = typer.Option(None, "--base", help="base model: folder, hub name or "
                                    "GGUF (transformers), server model name (openai), or "
                                    "sample file (jsonl)"),
    tuned: str | None = typer.Option(None, "--tuned", help="tuned model, the same kind as "
                                     "--base"),
    backend: str = typer.Option("transformers", help="transformers | openai | jsonl"),
    probes: str = typer.Option("personas,reviews,attractors", help="comma-separated probes"),
    n: int = typer.Option(16, "--n", help="samples per prompt (per temperature)"),
    out: Path = typer.Option(Path("runs/audit"), "--out", help="run directory"),
    seed: int = typer.Option(0, help="seed of generation and statistics"),
    max_new_tokens: int = typer.Option(64, help="tokens per sample"),
    chat: bool = typer.Option(False, "--chat/--no-chat", help="use the chat templates"),
    embeddings: bool = typer.Option(True, "--embeddings/--no-embeddings",
                                    help="embedding diversity and semantic clusters"),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server, "
                                        "e.g. http://127.0.0.1:8000/v1"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable with the "
                                    "API key (read, never written)"),
    gguf_file: str | None = typer.Option(None, help="GGUF file inside the model folders"),
    export_prompts: Path | None = typer.Option(
        None, "--export-prompts", help="write each probe's prompts (id, text, n, "
        "temperatures, seed) to DIR/<probe>.jsonl, to generate with any tool for --backend "
        "jsonl; needs no model"),
) -> None:
    """Did tuning collapse diversity? Probe a base and a tuned model and report."""
    from rewardshift.audit import AuditConfig
    from rewardshift.jobs.audit import audit_job
    from rewardshift.jobs.audit import export_prompts as write_prompts

    names = tuple(p.strip() for p in probes.split(",") if p.strip())

    def go() -> None:
        t0 = time.perf_counter()
        if export_prompts is not None:
            for path in write_prompts(names, export_prompts, n=n, seed=seed):
                console.print(f"wrote {path}")
            console.print(f"generate {n} samples per prompt_id (lines of prompt_id, prompt, "
                          "text), one file per model, then: rewardshift audit --backend jsonl "
                          "--base BASE.jsonl --tuned TUNED.jsonl", highlight=False)
            return
        if base is None or tuned is None:
            raise InputError("give --base and --tuned (or --export-prompts DIR to write the "
                             "probes' prompts)")
        cfg = AuditConfig(base=base, tuned=tuned, backend=backend, probes=names,
                          n=n, seed=seed, max_new_tokens=max_new_tokens, chat=chat,
                          embed=embeddings, base_url=base_url, api_key_env=api_key_env,
                          gguf_file=gguf_file)
        with _progress() as update:
            result = audit_job(cfg, out, progress=update)
        for v in result.verdicts:
            _out().print(f"• {escape(v)}", highlight=False)
        console.print(f"wrote {out / 'report.html'} in {time.perf_counter() - t0:.1f} s")

    _run(go)


@app.command("real-pair")
def real_pair_cmd(
    out: Path = typer.Option(Path("runs/real-pair"), "--out", help="run directory; running "
                             "again into an interrupted one reuses its finished stages"),
    model: str | None = typer.Option(None, "--model", help="base model: 'gemma-3-270m' (the "
                                     "packaged GGUF, default), a .gguf file, a transformers "
                                     "folder or a hub name"),
    small: bool = typer.Option(False, "--small", help="the CI size (a few prompts and tokens)"),
    config: Path | None = typer.Option(None, "--config", help="TOML or JSON file of "
                                       "RealPairConfig fields (tables raters, dpo)"),
    seed: int | None = typer.Option(None, help="seed of every step (overrides the config)"),
) -> None:
    """Make a matched real pair -- Gemma 3 270M base, biased raters, TRL DPO with LoRA -- and
    audit base vs tuned."""
    from rewardshift.jobs.realpair import real_pair_job
    from rewardshift.realpair import RealPairConfig

    def go() -> None:
        t0 = time.perf_counter()
        cfg = _override(_chosen_config(
            config, small, lambda p: RealPairConfig.from_file(p, "real_pair"), RealPairConfig),
            model=model, seed=seed)
        with _progress() as update:
            s = real_pair_job(cfg, out, progress=update)
        p = s["pairs"]
        _out().print(f"{p['n_pairs']} pairs; chosen vs rejected: sentiment "
                     f"{p['sentiment']['chosen']:.2f} vs {p['sentiment']['rejected']:.2f}, "
                     f"brevity {p['brevity']['chosen']:.2f} vs {p['brevity']['rejected']:.2f}",
                     highlight=False)
        for v in s["audit"]["verdicts"]:
            _out().print(f"• {escape(v)}", highlight=False)
        console.print(f"wrote {out / 'report.html'} in {time.perf_counter() - t0:.1f} s")

    _run(go)


@app.command("prefs")
def prefs_cmd(
    pairs: Path = typer.Argument(..., help="JSONL of {prompt, chosen, rejected} rows "
                                 "(optional chosen_score, rejected_score)"),
    base: str = typer.Option(..., "--base", help="base model (folder, hub name or GGUF) whose "
                             "log-probabilities measure typicality"),
    out: Path = typer.Option(Path("runs/prefs"), "--out", help="run directory"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="leave bad rows out (reported) "
                                  "instead of stopping at the first"),
    seed: int = typer.Option(0, help="seed of the pair order and the bootstrap"),
    gguf_file: str | None = typer.Option(None, help="GGUF file inside the model folder"),
) -> None:
    """The typicality bias alpha of a preference data set, and its length / sentiment biases."""
    from rewardshift.jobs.prefs import prefs_job

    def go() -> None:
        audit, bad, report = prefs_job(pairs, base, out, skip_bad=skip_bad, seed=seed,
                                       gguf_file=gguf_file)
        for b in bad:
            console.print(f"[yellow]skipped[/] {pairs}:{b.line}: {escape(b.field or '')} "
                          f"{escape(b.message)}", highlight=False)
        for v in audit.verdicts:
            _out().print(f"• {escape(v)}", highlight=False)
        console.print(f"wrote {report}")

    _run(go)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="rewardshift")


if __name__ == "__main__":  # pragma: no cover
    main()
