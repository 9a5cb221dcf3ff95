"""Preference tuning of the base policy with TRL: GRPO against the proxy RM, and DPO on the pairs.

* **GRPO** (Shao et al. 2024, DeepSeekMath, arXiv 2402.03300) through ``trl.GRPOTrainer``:
  ``num_generations`` completions per prompt, group-normalised advantages of the proxy reward,
  and a KL penalty ``beta * KL(pi || pi_ref)`` to the base (``beta = 0`` is TRL's default and
  our *weak-KL* run, the one that hacks the reward model). The proxy RM is passed as a plain
  reward function that scores the generated token ids (:class:`ProxyReward`), so the reward
  sees exactly what the policy wrote.
* **DPO** (Rafailov et al. 2023, arXiv 2305.18290) through ``trl.DPOTrainer`` on the raters'
  pairs, ``beta`` its inverse temperature.

Both save checkpoints every ``save_every`` steps in the standard format
(``checkpoint-N/``), which :mod:`rewardshift.lm.evaluate` measures afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.generate.scoring import Encoded
from rewardshift.lm.reward import RewardScorer

__all__ = ["DPOSettings", "GRPOSettings", "ProxyReward", "checkpoints", "run_dpo", "run_grpo"]


@dataclass(frozen=True)
class GRPOSettings:
    """One GRPO run."""

    name: str = field(default="grpo", metadata={"help": "name of the run (its directory)"})
    beta: float = field(default=0.05, metadata={"help": "KL coefficient to the base"})
    steps: int = field(default=60, metadata={"help": "optimizer steps"})
    learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate"})
    prompts_per_step: int = field(default=6, metadata={"help": "prompts per step"})
    num_generations: int = field(default=8, metadata={"help": "completions per prompt (group)"})
    max_completion_length: int = field(default=40, metadata={"help": "max new tokens"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    save_every: int = field(default=10, metadata={"help": "checkpoint every N steps"})
    seed: int = field(default=0, metadata={"help": "seed of sampling and order"})

    def __post_init__(self) -> None:
        if self.beta < 0 or self.steps < 1 or self.num_generations < 2 or self.save_every < 1:
            raise InputError(f"GRPOSettings '{self.name}': need beta >= 0, steps >= 1, "
                             "num_generations >= 2 (GRPO compares completions within a group) "
                             "and save_every >= 1")


@dataclass(frozen=True)
class DPOSettings:
    """One DPO run."""

    name: str = field(default="dpo", metadata={"help": "name of the run"})
    beta: float = field(default=0.5, metadata={"help": "DPO inverse temperature"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the pairs"})
    batch_size: int = field(default=32, metadata={"help": "pairs per step"})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate"})
    save_every: int = field(default=20, metadata={"help": "checkpoint every N steps"})
    seed: int = field(default=0, metadata={"help": "seed of the data order"})
    max_length: int = field(default=64, metadata={"help": "tokens of prompt + completion"})
    log_every: int = field(default=5, metadata={"help": "log the training numbers every N "
                                                        "steps"})
    lora_r: int = field(default=0, metadata={
        "help": "LoRA rank (Hu et al. 2021, peft); 0 tunes every weight"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_targets: tuple[str, ...] = field(default=("all-linear",), metadata={
        "help": "module names that get LoRA adapters; 'all-linear': every linear layer but "
                "the output head"})

    def __post_init__(self) -> None:
        if not (self.beta > 0 and self.epochs > 0 and self.batch_size >= 1
                and self.save_every >= 1 and self.max_length >= 8 and self.lora_r >= 0
                and self.log_every >= 1):
            raise InputError(f"DPOSettings '{self.name}': need beta > 0, epochs > 0, "
                             "batch_size >= 1, save_every >= 1, max_length >= 8, "
                             "log_every >= 1 and lora_r >= 0")


class ProxyReward:
    """A TRL reward function scoring generated token ids with the proxy RM.

    ``__call__(prompts, completions, completion_ids, **kwargs)`` follows TRL's reward-function
    protocol and returns one float per completion.
    """

    __name__ = "proxy_rm"

    def __init__(self, scorer: RewardScorer) -> None:
        self.scorer = scorer
        self._prompt_ids: dict[str, list[int]] = {}

    def encoded(self, prompts: Sequence[str], completion_ids: Sequence[Sequence[int]]
                ) -> list[Encoded]:
        tok = self.scorer.tokenizer
        out = []
        for p, c in zip(prompts, completion_ids, strict=True):
            if p not in self._prompt_ids:
                self._prompt_ids[p] = tok(p, add_special_tokens=False)["input_ids"]
            ids = self._prompt_ids[p]
            out.append(Encoded(list(ids) + [int(t) for t in c if t != tok.pad_token_id],
                               len(ids)))
        return out

    def __call__(self, prompts: Sequence[str], completions: Sequence[str],
                 completion_ids: Sequence[Sequence[int]], **kwargs) -> list[float]:
        return self.scorer.score_encoded(self.encoded(prompts, completion_ids)).tolist()


def _quiet(progress: bool):
    import datasets
    from transformers import logging as hf_logging

    if not progress:
        datasets.disable_progress_bars()
    v = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    return v


def _drop_printer(trainer, progress: bool) -> None:
    if not progress:
        from transformers import PrinterCallback
        trainer.remove_callback(PrinterCallback)


def stratified_prompts(prompts: Sequence[str], n: int, *, seed: int) -> list[str]:
    """``n`` prompts as consecutive seeded permutations of ``prompts``.

    Every run of ``len(prompts)`` consecutive rows holds each prompt once, so when a step takes
    a multiple of ``len(prompts)`` rows every step sees every prompt: the per-step means the
    monitor watches then do not jump with the mix of prompts (reviews and breakage texts have
    different reward levels).
    """
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:
        out.extend(prompts[int(i)] for i in rng.permutation(len(prompts)))
    return out[:n]


def _common_args(out: Path, seed: int, save_every: int, progress: bool,
                 report_to: str | Sequence[str] = "none") -> dict:
    """TRL config arguments shared by every run: checkpoints, seeds, no trackers, fp32.

    TRL's configs default to ``bf16=True`` and gradient checkpointing even on a CPU, which
    makes a tiny model's step several times slower; both are off. A GPU is used when present.
    """
    import torch

    return {"output_dir": str(out), "save_strategy": "steps", "save_steps": save_every,
            "save_only_model": True, "lr_scheduler_type": "constant", "report_to": report_to,
            "seed": seed, "use_cpu": not torch.cuda.is_available(),
            "disable_tqdm": not progress, "bf16": False, "gradient_checkpointing": False}


def _lora_config(s: DPOSettings):
    try:
        from peft import LoraConfig
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("peft", "lm") from e
    return LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.0,
                      target_modules=("all-linear" if tuple(s.lora_targets) == ("all-linear",)
                                      else list(s.lora_targets)), task_type="CAUSAL_LM")


def _train_and_save(trainer, tok, out: Path, progress: bool):
    """Train, then save the final policy and its tokenizer to ``out/final``.

    A LoRA-tuned policy is saved merged (see :func:`run_dpo`).
    """
    _drop_printer(trainer, progress)
    trainer.train()
    if hasattr(trainer.model, "merge_and_unload"):
        trainer.model.merge_and_unload().save_pretrained(str(out / "final"))
    else:
        trainer.save_model(str(out / "final"))
    tok.save_pretrained(str(out / "final"))
    return trainer


def run_grpo(base_path: str | os.PathLike[str], prompts: Sequence[str], rewards: Sequence[Callable],
             out_dir: str | os.PathLike[str], settings: GRPOSettings, *,
             reward_weights: Sequence[float] | None = None, callbacks: Sequence = (),
             progress: bool = True, report_to: str | Sequence[str] = "none"):
    """Tune the base with ``trl.GRPOTrainer``; returns the trainer (its ``state.log_history``).

    ``prompts`` are cycled into a dataset of ``steps * prompts_per_step`` rows
    (:func:`stratified_prompts`);
    ``rewards`` are TRL reward functions, the first being the proxy (extra ones, e.g. the
    monitor's observer, usually with weight 0 in ``reward_weights``). ``report_to`` is passed
    to TRL (``"tensorboard"``, ``"wandb"``, ...): the monitor's numbers go there too.
    """
    try:
        import torch
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers import logging as hf_logging
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("trl", "lm") from e
    if not prompts:
        raise InputError("run_grpo needs at least one prompt")
    s = settings
    rows = stratified_prompts(prompts, s.steps * s.prompts_per_step, seed=s.seed)
    out = Path(out_dir)
    verbosity = _quiet(progress)
    try:
        torch.manual_seed(s.seed)
        tok = AutoTokenizer.from_pretrained(str(base_path))
        model = AutoModelForCausalLM.from_pretrained(str(base_path))
        args = GRPOConfig(
            per_device_train_batch_size=s.prompts_per_step * s.num_generations,
            num_generations=s.num_generations, max_completion_length=s.max_completion_length,
            temperature=s.temperature, top_k=0, top_p=1.0, beta=s.beta, max_steps=s.steps,
            learning_rate=s.learning_rate, logging_steps=1,
            reward_weights=list(reward_weights) if reward_weights is not None else None,
            shuffle_dataset=False,
            **_common_args(out, s.seed, s.save_every, progress, report_to))
        trainer = GRPOTrainer(model=model, reward_funcs=list(rewards), args=args,
                              train_dataset=Dataset.from_dict({"prompt": rows}),
                              processing_class=tok, callbacks=list(callbacks))
        return _train_and_save(trainer, tok, out, progress)
    finally:
        hf_logging.set_verbosity(verbosity)


def run_dpo(base_path: str | os.PathLike[str], records: Sequence[dict],
            out_dir: str | os.PathLike[str], settings: DPOSettings, *,
            eval_records: Sequence[dict] = (), callbacks: Sequence = (), eval_steps: int = 0,
            progress: bool = True, report_to: str | Sequence[str] = "none"):
    """Tune the base with ``trl.DPOTrainer`` on ``{"prompt", "chosen", "rejected"}`` records.

    With ``settings.lora_r > 0`` only LoRA adapters are trained (``peft.LoraConfig`` passed as
    TRL's ``peft_config``; the reference policy is the base with the adapters switched off, so
    no second copy of the model is held). Checkpoints then hold the adapters; ``final/`` holds
    the adapters merged into the base weights (``merge_and_unload``), a plain model that loads
    with ``AutoModelForCausalLM`` like any other.
    """
    try:
        import torch
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers import logging as hf_logging
        from trl import DPOConfig, DPOTrainer
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("trl", "lm") from e
    if len(records) < 2:
        raise InputError(f"run_dpo needs at least 2 pairs; got {len(records)}")
    s = settings
    cols = ("prompt", "chosen", "rejected")
    out = Path(out_dir)
    verbosity = _quiet(progress)
    try:
        torch.manual_seed(s.seed)
        tok = AutoTokenizer.from_pretrained(str(base_path))
        model = AutoModelForCausalLM.from_pretrained(str(base_path))
        peft_config = _lora_config(s) if s.lora_r else None
        ref = None if peft_config else AutoModelForCausalLM.from_pretrained(str(base_path))
        extra: dict[str, Any] = {}
        eval_ds = None
        if eval_records and eval_steps:
            eval_ds = Dataset.from_dict({c: [r[c] for r in eval_records] for c in cols})
            extra = {"eval_strategy": "steps", "eval_steps": eval_steps}
        args = DPOConfig(
            per_device_train_batch_size=s.batch_size, num_train_epochs=s.epochs,
            learning_rate=s.learning_rate, beta=s.beta, logging_steps=s.log_every,
            max_length=s.max_length,
            **_common_args(out, s.seed, s.save_every, progress, report_to), **extra)
        trainer = DPOTrainer(model=model, ref_model=ref, args=args,
                             train_dataset=Dataset.from_dict({c: [r[c] for r in records]
                                                              for c in cols}),
                             eval_dataset=eval_ds, processing_class=tok,
                             callbacks=list(callbacks), peft_config=peft_config)
        return _train_and_save(trainer, tok, out, progress)
    finally:
        hf_logging.set_verbosity(verbosity)


def checkpoints(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``[(step, path), ...]`` of a run's ``checkpoint-N`` directories, by step."""
    found = []
    for p in Path(run_dir).glob("checkpoint-*"):
        try:
            found.append((int(p.name.split("-", 1)[1]), p))
        except ValueError:
            continue
    return sorted(found)
