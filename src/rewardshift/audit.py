"""Audit a base and a tuned model: generate the probes' prompts with each, analyse, report.

``rewardshift audit --base MODEL --tuned MODEL`` answers "did my preference tuning collapse
diversity?" on real models. For every probe (:mod:`rewardshift.probes`: personas, reviews,
attractors) both models answer the same prompts with the same seeds at the probe's
temperatures (common random numbers: the differences come from the models, not the draws);
the probe's :meth:`analyze` then compares tuned with base -- its own statistics (attribute
histograms, sentiment, attractors) and the diversity metrics of :mod:`rewardshift.measure` per
input and across inputs -- each with an effect size, a p-value and a one-line verdict.

Backends (:mod:`rewardshift.generate`): ``transformers`` (a local folder, a hub name or a GGUF
file), ``openai`` (any OpenAI-compatible server: ``--base-url``; the model names are the
server's; the API key is read from ``$OPENAI_API_KEY`` or ``--api-key-env`` and never
written), ``jsonl`` (samples generated elsewhere: ``--base`` and ``--tuned`` are files whose
prompts must be the probes' prompts).

The run directory: ``config.json`` (models, backend, generation settings, probes, seed),
``samples.parquet`` (every sample, ``meta["probe"]`` and ``meta["temperature"]`` set),
``summary.json`` (each probe's :meth:`ProbeResult.to_dict` and the verdicts; written last),
``report.html`` and ``figures/``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardshift._exceptions import InputError, RewardshiftError
from rewardshift.config import Config
from rewardshift.progress import Progress, no_progress
from rewardshift.samples import Sample

__all__ = ["AuditConfig", "AuditResult", "BACKENDS", "make_backend", "prompt_rows", "run_audit"]

BACKENDS = ("transformers", "openai", "jsonl")


@dataclass(frozen=True)
class AuditConfig(Config):
    """What ``rewardshift audit`` does."""

    base: str = field(metadata={"help": "base model: folder, hub name, GGUF, server model "
                                        "name or sample file (per backend)"})
    tuned: str = field(metadata={"help": "tuned model, the same kind of reference as base"})
    backend: str = field(default="transformers", metadata={"help": " | ".join(BACKENDS)})
    probes: tuple[str, ...] = field(default=("personas", "reviews", "attractors"))
    n: int = field(default=16, metadata={"help": "samples per prompt (per temperature)"})
    seed: int = field(default=0, metadata={"help": "seed of generation and statistics"})
    max_new_tokens: int = field(default=64, metadata={"help": "tokens per sample"})
    top_logprobs: int = field(default=5, metadata={
        "help": "k of the per-token top-k log-probabilities (next-token entropy)"})
    chat: bool = field(default=False, metadata={"help": "use the models' chat templates"})
    embed: bool = field(default=True, metadata={
        "help": "embedding diversity and semantic clusters (MiniLM); off = lexical only"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={
        "help": "environment variable holding the API key (never written anywhere)"})
    gguf_file: str | None = field(default=None, metadata={
        "help": "GGUF file name inside the model folders (transformers backend)"})

    def __post_init__(self) -> None:
        from rewardshift.probes import PROBES

        if self.backend not in BACKENDS:
            raise InputError(f"backend {self.backend!r} is not one of {BACKENDS}",
                             option="backend")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown or not self.probes:
            raise InputError(f"probes: unknown {unknown}; choose from {sorted(PROBES)}",
                             option="probes")
        if len(set(self.probes)) != len(self.probes):
            raise InputError(f"probes lists a probe twice: {list(self.probes)}",
                             option="probes")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 2:
            raise InputError(f"n = {self.n!r} samples per prompt must be an integer >= 2 "
                             "(per-input diversity compares samples of one prompt)", option="n")
        if self.backend == "openai" and not self.base_url:
            raise InputError("the openai backend needs a server address (base_url), e.g. "
                             "http://127.0.0.1:8000/v1", option="base_url")
        if self.base == self.tuned:
            raise InputError(f"base and tuned are the same ({self.base!r}); an audit "
                             "compares two models", option="tuned")


def make_backend(ref: str, config: AuditConfig, *, source: str):
    """The generation backend of one model reference (see the module docstring)."""
    from rewardshift.generate import JSONLBackend, OpenAIBackend, TransformersBackend

    if config.backend == "transformers":
        return TransformersBackend.from_pretrained(ref, gguf_file=config.gguf_file,
                                                   source=source)
    if config.backend == "openai":
        return OpenAIBackend(config.base_url or "", ref, api_key_env=config.api_key_env,
                             source=source)
    return JSONLBackend(ref, source=source)


def _generate_fn(backend, config: AuditConfig) -> Callable[..., list[Sample]]:
    """Adapt a backend to the probes' ``generate(prompts, n, temperature, seed)``."""
    from rewardshift.generate import GenerationConfig

    def generate(prompts: Sequence[tuple[str, str]], n: int, temperature: float, seed: int
                 ) -> list[Sample]:
        k = config.top_logprobs if config.backend != "jsonl" else 0
        return backend.generate(list(prompts), GenerationConfig(
            n=n, temperature=temperature, seed=seed, max_new_tokens=config.max_new_tokens,
            top_logprobs=k, logprobs=True, chat=config.chat))

    return generate


@dataclass(frozen=True)
class AuditResult:
    """What an audit found: the summary (as ``summary.json`` holds it), each probe's
    :class:`~rewardshift.probes.ProbeResult`, and every sample with ``meta["probe"]`` set."""

    summary: dict[str, Any]
    results: dict[str, Any]
    samples: list[Sample]

    @property
    def verdicts(self) -> list[str]:
        return list(self.summary["verdicts"])

    def by_source(self) -> dict[str, list[Sample]]:
        return {src: [s for s in self.samples if s.source == src] for src in ("base", "tuned")}


def prompt_rows(name: str, probe: Any, config: AuditConfig) -> list[dict[str, Any]]:
    """The prompts a probe asks, as rows to generate elsewhere (``--backend jsonl``).

    One row per prompt: ``probe``, ``prompt_id``, ``prompt``, ``n`` (samples wanted per
    temperature), ``temperatures`` and ``seed``. A sample file for the JSONL backend holds,
    for each ``prompt_id``, at least ``n`` samples (the first ``n`` in file order are used, at
    every temperature).
    """
    return [{"probe": name, "prompt_id": pid, "prompt": text, "n": config.n,
             "temperatures": [float(t) for t in probe.temperatures], "seed": config.seed}
            for pid, text in probe.prompts()]


def _jsonl_mismatch(exc: InputError, name: str, probe: Any, backend: Any,
                    config: AuditConfig) -> InputError:
    """The JSONL backend's shortfall, said in the probe's terms: which ids, how many each."""
    ids = [pid for pid, _ in probe.prompts()]
    try:
        have = sorted({s.prompt_id for s in backend.samples()})
    except RewardshiftError:
        have = []
    shown = ", ".join(repr(h) for h in have[:4]) + (", ..." if len(have) > 4 else "")
    missing = [i for i in ids if i not in set(have)]
    return InputError(
        f"{exc} -- the {name} probe asks its own {len(ids)} prompts, ids {ids[0]!r} ... "
        f"{ids[-1]!r}, and needs {config.n} samples of each (at temperature"
        f"{'s' if len(probe.temperatures) > 1 else ''} "
        f"{', '.join(f'{t:g}' for t in probe.temperatures)}); the file has "
        f"{len(have)} id(s) ({shown or 'none'}), {len(missing)} of the probe's missing. Export "
        "the probes' prompts (export_prompts), generate for them with any tool, and give that "
        "file.", option="export_prompts")


def run_audit(config: AuditConfig, *, progress: Progress | None = None) -> AuditResult:
    """Generate every probe's prompts with the base and the tuned model and analyse them.

    ``progress(stage, done, total)`` is called as probes and sources finish. Writes nothing;
    :func:`rewardshift.jobs.audit.audit_job` writes the run directory and the report.
    """
    from rewardshift.probes import PROBES, collect_samples

    tick = progress or no_progress
    t0 = time.perf_counter()
    backends = {"base": make_backend(config.base, config, source="base"),
                "tuned": make_backend(config.tuned, config, source="tuned")}
    gens = {name: _generate_fn(b, config) for name, b in backends.items()}
    timings: dict[str, float] = {"load": round(time.perf_counter() - t0, 2)}
    results: dict[str, Any] = {}
    all_samples: list[Sample] = []
    total = len(config.probes) * 3
    done = 0
    for name in config.probes:
        probe = PROBES[name](embed=config.embed)
        t = time.perf_counter()
        by_source: dict[str, list[Sample]] = {}
        for src in ("base", "tuned"):
            try:
                by_source.update(collect_samples(probe, {src: gens[src]}, n=config.n,
                                                 seed=config.seed))
            except InputError as exc:
                if config.backend != "jsonl":
                    raise
                raise _jsonl_mismatch(exc, name, probe, backends[src], config) from exc
            done += 1
            tick(f"{name}: {src}", done, total)
        timings[f"{name} generate"] = round(time.perf_counter() - t, 2)
        for samples in by_source.values():
            all_samples.extend(dataclasses.replace(s, meta={**s.meta, "probe": name})
                               for s in samples)
        t = time.perf_counter()
        results[name] = probe.analyze(by_source, seed=config.seed, base="base", tuned="tuned")
        timings[f"{name} analyse"] = round(time.perf_counter() - t, 2)
        done += 1
        tick(f"{name}: analyse", done, total)
    verdicts = [v for r in results.values() for v in r.verdicts]
    meta = {"base": config.base, "tuned": config.tuned, "backend": config.backend,
            "n": config.n, "seed": config.seed, "timings": timings}
    timings["total"] = round(time.perf_counter() - t0, 2)
    summary = {"kind": "audit", **meta, "verdicts": verdicts,
               "probes": {name: r.to_dict() for name, r in results.items()}}
    return AuditResult(summary=summary, results=results, samples=all_samples)
