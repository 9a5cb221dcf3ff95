"""The proxy reward model: a sequence classifier trained by ``trl.RewardTrainer`` on the pairs.

The reward model is the base GPT-2 with a scalar head (``AutoModelForSequenceClassification``
with ``num_labels=1``, the standard RLHF recipe of Ouyang et al. 2022), trained on the raters'
pairs with the Bradley-Terry loss ``-log sigma(r(x, y_chosen) - r(x, y_rejected))``. It reads
``prompt + " " + text + eos`` and scores at the last token (``eos``).

:class:`RewardScorer` scores token ids the way the trainer saw them: ``prompt ids + completion
ids``, with ``eos`` appended when the completion did not end with one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.generate.scoring import Encoded, pad_batch

__all__ = ["RewardConfig", "RewardScorer", "train_reward_model"]


@dataclass(frozen=True)
class RewardConfig:
    """Training of the proxy reward model."""

    epochs: float = field(default=2.0, metadata={"help": "passes over the training pairs"})
    batch_size: int = field(default=32, metadata={"help": "pairs per step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    heldout_share: float = field(default=0.1, metadata={"help": "pairs kept for accuracy"})
    seed: int = field(default=0, metadata={"help": "seed of the head init and data order"})

    def __post_init__(self) -> None:
        if not (self.epochs > 0 and self.batch_size >= 1 and self.learning_rate > 0
                and 0 < self.heldout_share < 1):
            raise InputError("RewardConfig needs epochs > 0, batch_size >= 1, "
                             "learning_rate > 0 and 0 < heldout_share < 1")


class RewardScorer:
    """Scores completions with a trained reward model (token ids in, rewards out)."""

    def __init__(self, model, tokenizer, batch_size: int = 256) -> None:
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.model.eval()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RewardScorer:
        """Load a reward model saved by :func:`train_reward_model` (or any sequence classifier)."""
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as e:  # pragma: no cover
            raise MissingDependencyError("transformers", "lm") from e
        return cls(AutoModelForSequenceClassification.from_pretrained(str(path)),
                   AutoTokenizer.from_pretrained(str(path)))

    def score_encoded(self, encoded: Sequence[Encoded]) -> np.ndarray:
        """Reward of each encoded prompt + completion (eos appended if missing), (N,)."""
        import torch

        eos = self.tokenizer.eos_token_id
        fixed = [e if e.input_ids[-1:] == [eos] else Encoded(e.input_ids + [eos], e.prompt_len)
                 for e in encoded]
        out = np.empty(len(fixed))
        with torch.no_grad():
            for s in range(0, len(fixed), self.batch_size):
                b = pad_batch(fixed[s:s + self.batch_size], self.tokenizer.pad_token_id)
                logits = self.model(input_ids=b["input_ids"],
                                    attention_mask=b["attention_mask"]).logits
                out[s:s + len(logits)] = logits[:, 0].double().numpy()
        return out

    def score(self, prompts: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Reward of each ``(prompt, text)``, (N,)."""
        from rewardshift.generate.scoring import encode_pairs

        return self.score_encoded(encode_pairs(self.tokenizer, prompts, texts))


def train_reward_model(base_path: str | os.PathLike[str], records: Sequence[dict],
                       out_dir: str | os.PathLike[str], config: RewardConfig | None = None, *,
                       progress: bool = True) -> tuple[RewardScorer, dict[str, Any]]:
    """Train the proxy RM with ``trl.RewardTrainer`` from the base model; save it to ``out_dir``.

    Returns the scorer and ``{"heldout_accuracy", "train_accuracy", "n_train", "n_heldout",
    "bayes_accuracy"}``; ``bayes_accuracy`` is the accuracy of the raters' own Bradley-Terry
    probabilities on the held-out pairs (``mean max(p, 1 - p)``), the ceiling any RM can
    reach on noisy labels.
    """
    try:
        from datasets import Dataset
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers import logging as hf_logging
        from trl import RewardConfig as TRLRewardConfig
        from trl import RewardTrainer
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("trl", "lm") from e
    config = config or RewardConfig()
    if len(records) < 4:
        raise InputError(f"train_reward_model needs at least 4 preference pairs; got "
                         f"{len(records)}")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(records))
    n_held = max(1, int(round(config.heldout_share * len(records))))
    held = [records[i] for i in order[:n_held]]
    train = [records[i] for i in order[n_held:]]
    cols = ("prompt", "chosen", "rejected")
    ds = Dataset.from_dict({c: [r[c] for r in train] for c in cols})
    out = Path(out_dir)
    tok = AutoTokenizer.from_pretrained(str(base_path))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        import torch

        torch.manual_seed(config.seed)
        model = AutoModelForSequenceClassification.from_pretrained(str(base_path), num_labels=1)
        model.config.pad_token_id = tok.pad_token_id
        args = TRLRewardConfig(
            output_dir=str(out / "_trainer"), per_device_train_batch_size=config.batch_size,
            num_train_epochs=config.epochs, learning_rate=config.learning_rate,
            lr_scheduler_type="cosine", warmup_steps=0.05, logging_steps=25, save_strategy="no",
            report_to="none", seed=config.seed, use_cpu=True, disable_tqdm=not progress,
            max_length=64, dataset_num_proc=None, bf16=False,
            gradient_checkpointing=False)
        trainer = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
        if not progress:
            from transformers import PrinterCallback
            trainer.remove_callback(PrinterCallback)
        trainer.train()
    finally:
        hf_logging.set_verbosity(verbosity)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    scorer = RewardScorer(model, tok)

    def accuracy(rows: Sequence[dict]) -> float:
        p = [r["prompt"] for r in rows]
        c = scorer.score(p, [r["chosen"][1:] for r in rows])
        rj = scorer.score(p, [r["rejected"][1:] for r in rows])
        return float(np.mean(c > rj))

    stats = {"heldout_accuracy": accuracy(held), "train_accuracy": accuracy(train[:2000]),
             "n_train": len(train), "n_heldout": len(held)}
    if all("p_chosen" in r for r in held):
        p = np.array([r["p_chosen"] for r in held])
        stats["bayes_accuracy"] = float(np.mean(np.maximum(p, 1 - p)))
    return scorer, stats
