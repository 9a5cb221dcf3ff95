"""Pretraining the base policy: a small GPT-2 trained on samples of the text grammar.

The base model is ``GPT2LMHeadModel`` (Radford et al. 2019) trained with the causal-LM loss on
the completion tokens of ``prompt + " " + text + eos`` (prompt positions masked), with the
``transformers`` ``Trainer``. It is saved with its tokenizer in the standard format, so
``AutoModelForCausalLM.from_pretrained(path)`` and ``AutoTokenizer.from_pretrained(path)`` load
it.

How close it is to the truth: on held-out texts ``x ~ P`` (the grammar) the mean completion
negative log-likelihood is the cross-entropy ``H(P, pi) = H(P) + KL(P || pi)``, so

    KL(P || pi) = mean NLL - H(P)   (nats per text, >= 0),

with ``H(P)`` the grammar's exact entropy per kind (11.30 nats for reviews, 5.50 for breakage
texts). :class:`PretrainResult` reports both and the per-token perplexity.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.generate.scoring import encode_pairs, pad_batch, sequence_logprobs
from rewardshift.lm.grammar import PROMPTS, GrammarSample, TextGrammar
from rewardshift.lm.tokenizer import build_tokenizer

__all__ = ["PretrainConfig", "PretrainResult", "load_causal_lm", "pretrain", "prompt_for"]


@dataclass(frozen=True)
class PretrainConfig:
    """Size of the base model and of its pretraining."""

    n_layer: int = field(default=2, metadata={"help": "transformer blocks"})
    n_head: int = field(default=4, metadata={"help": "attention heads"})
    n_embd: int = field(default=128, metadata={"help": "width"})
    n_train: int = field(default=30_000, metadata={"help": "grammar samples to train on"})
    n_heldout: int = field(default=2_000, metadata={"help": "held-out samples for the NLL"})
    epochs: float = field(default=2.0, metadata={"help": "passes over the training samples"})
    batch_size: int = field(default=64, metadata={"help": "sequences per step"})
    learning_rate: float = field(default=3e-3, metadata={"help": "AdamW peak learning rate"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "linear warm-up share"})
    seed: int = field(default=0, metadata={"help": "seed of samples, init and order"})

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "n_embd", "n_train", "n_heldout", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"PretrainConfig.{name}={getattr(self, name)!r} must be >= 1")
        if self.n_embd % self.n_head:
            raise InputError(f"PretrainConfig n_embd={self.n_embd} must be a multiple of "
                             f"n_head={self.n_head}")
        if not (self.epochs > 0 and self.learning_rate > 0 and 0 <= self.warmup_ratio < 1):
            raise InputError("PretrainConfig needs epochs > 0, learning_rate > 0 and "
                             "0 <= warmup_ratio < 1")


@dataclass(frozen=True)
class PretrainResult:
    """Held-out fit of the base model to the grammar, per kind.

    ``nll[kind]`` is the mean completion NLL (nats per text) of held-out grammar texts,
    ``entropy[kind]`` the grammar's exact entropy, ``kl[kind] = nll - entropy`` (an estimate of
    ``KL(P || pi)``, with standard error ``kl_se``), ``perplexity[kind]`` the per-token
    perplexity ``exp(sum NLL / sum tokens)``; ``nll_before`` the same NLL of the untrained
    initialisation; ``steps`` optimizer steps; ``path`` where model and tokenizer were saved.
    """

    nll: dict[str, float]
    nll_before: dict[str, float]
    entropy: dict[str, float]
    kl: dict[str, float]
    kl_se: dict[str, float]
    perplexity: dict[str, float]
    steps: int
    path: str

    def to_dict(self) -> dict:
        return asdict(self)


def prompt_for(samples: Sequence[GrammarSample], seed: int) -> list[str]:
    """One of its kind's prompts for each text, drawn uniformly (seeded)."""
    rng = np.random.default_rng(seed)
    return [PROMPTS[s.kind][int(rng.integers(len(PROMPTS[s.kind])))][1] for s in samples]


def load_causal_lm(path: str | os.PathLike[str]):
    """``(model, tokenizer)`` from a local directory or a hub name (standard format)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("transformers", "lm") from e
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok


def _heldout(model, tokenizer, samples: Sequence[GrammarSample], prompts: Sequence[str]
             ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per kind: mean NLL, its standard error, per-token perplexity."""
    lp = sequence_logprobs(model, tokenizer, prompts, [s.text for s in samples])
    enc = encode_pairs(tokenizer, prompts, [s.text for s in samples])
    ntok = np.array([len(e.input_ids) - e.prompt_len for e in enc])
    kinds = np.array([s.kind for s in samples])
    nll, se, ppl = {}, {}, {}
    for k in map(str, dict.fromkeys(kinds)):
        m = kinds == k
        nll[k] = float(-lp[m].mean())
        se[k] = float(lp[m].std(ddof=1) / math.sqrt(m.sum())) if m.sum() > 1 else math.nan
        ppl[k] = float(math.exp(-lp[m].sum() / ntok[m].sum()))
    return nll, se, ppl


def pretrain(out_dir: str | os.PathLike[str], config: PretrainConfig | None = None, *,
             grammar: TextGrammar | None = None, progress: bool = True) -> PretrainResult:
    """Train the base policy on grammar samples and save it (with its tokenizer) to ``out_dir``.

    Returns the held-out fit (:class:`PretrainResult`). Deterministic for a given
    ``config.seed`` on a given machine.
    """
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
        from transformers import logging as hf_logging
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("transformers", "lm") from e
    config = config or PretrainConfig()
    grammar = grammar or TextGrammar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(grammar)
    torch.manual_seed(config.seed)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tok), n_positions=64, n_embd=config.n_embd, n_layer=config.n_layer,
        n_head=config.n_head, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))

    train = grammar.sample(config.n_train, seed=config.seed)
    held = grammar.sample(config.n_heldout, seed=config.seed + 1)
    held_prompts = prompt_for(held, config.seed + 3)
    nll_before, _, _ = _heldout(model, tok, held, held_prompts)
    enc = encode_pairs(tok, prompt_for(train, config.seed + 2), [s.text for s in train])

    args = TrainingArguments(
        output_dir=str(out / "_trainer"), per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        warmup_steps=int(config.warmup_ratio * math.ceil(
            config.epochs * config.n_train / config.batch_size)),
        lr_scheduler_type="cosine", weight_decay=0.01, logging_steps=50, save_strategy="no",
        report_to="none", seed=config.seed, data_seed=config.seed, use_cpu=True,
        disable_tqdm=not progress, dataloader_num_workers=0)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        trainer = Trainer(model=model, args=args, train_dataset=enc,
                          data_collator=lambda b: pad_batch(b, tok.pad_token_id))
        if not progress:
            from transformers import PrinterCallback
            trainer.remove_callback(PrinterCallback)
        state = trainer.train()
    finally:
        hf_logging.set_verbosity(verbosity)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    nll, se, ppl = _heldout(model, tok, held, held_prompts)
    entropy = {k: grammar.entropy(k) for k in nll}
    return PretrainResult(
        nll=nll, nll_before=nll_before, entropy=entropy,
        kl={k: nll[k] - entropy[k] for k in nll}, kl_se=se, perplexity=ppl,
        steps=int(state.global_step), path=str(out))
