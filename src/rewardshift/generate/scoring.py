"""Encoding prompt/completion pairs and scoring them under a causal language model.

Teacher-forced scoring: the model reads prompt + completion once and the log-probabilities of
the completion's tokens are summed. :func:`encode_pairs` follows the GPT-2 convention of
:mod:`rewardshift.lm.tokenizer`: a sequence is ``encode(prompt) + encode(" " + text) + [eos]``;
the *completion* is ``encode(" " + text) + [eos]`` and its log-probability is

    log pi(y | x) = sum_{t in completion} log softmax(logits_{t-1})[y_t],

the probability that the model writes the text and then stops. Because the grammar's
tokenisation is unique, for a model trained on the grammar this is directly comparable with the
grammar's exact ``log P(text | kind)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardshift._exceptions import InputError

__all__ = ["Encoded", "MAX_LOGITS", "encode_pairs", "ids_logprobs", "pad_batch",
           "sequence_logprobs"]

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    """Token ids of prompt + completion, and where the completion starts."""

    input_ids: list[int]
    prompt_len: int

    @property
    def labels(self) -> list[int]:
        """Labels for causal-LM loss on the completion only (prompt positions ``-100``)."""
        return [IGNORE] * self.prompt_len + self.input_ids[self.prompt_len:]


def encode_pairs(tokenizer, prompts: Sequence[str], texts: Sequence[str], *,
                 eos: bool = True, leading_space: bool = True) -> list[Encoded]:
    """Encode ``(prompt, text)`` pairs as prompt ids + completion ids (+ eos).

    The completion is ``" " + text`` with ``leading_space`` (the GPT-2 convention,
    :func:`rewardshift.lm.tokenizer.completion_text`), else ``text`` as it is.
    """
    if len(prompts) != len(texts):
        raise InputError(f"encode_pairs: {len(prompts)} prompts but {len(texts)} texts; give "
                         "one prompt per text")
    cache: dict[str, list[int]] = {}
    p_ids = []
    for p in prompts:
        if p not in cache:
            cache[p] = tokenizer(p, add_special_tokens=False)["input_ids"]
        p_ids.append(cache[p])
    lead = " " if leading_space else ""
    c_ids = tokenizer([lead + t for t in texts], add_special_tokens=False)["input_ids"]
    tail = [tokenizer.eos_token_id] if eos else []
    return [Encoded(p + c + tail, len(p)) for p, c in zip(p_ids, c_ids, strict=True)]


def pad_batch(batch: Sequence[Encoded], pad_id: int):
    """Right-pad a batch: ``input_ids``, ``attention_mask``, ``labels`` as torch tensors."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def sequence_logprobs(model, tokenizer, prompts: Sequence[str], texts: Sequence[str], *,
                      batch_size: int = 256, eos: bool = True) -> np.ndarray:
    """``log pi(text | prompt)`` of each pair under ``model`` (completion tokens + eos), (N,)."""
    return ids_logprobs(model, encode_pairs(tokenizer, prompts, texts, eos=eos),
                        pad_id=tokenizer.pad_token_id, batch_size=batch_size)


#: Most logits one forward pass may hold (rows x positions x vocabulary): 2**26 float32 is
#: 256 MB. Large vocabularies (Gemma 3: 262,144 tokens) otherwise need gigabytes per batch.
MAX_LOGITS = 2**26


def ids_logprobs(model, encoded: Sequence[Encoded], *, pad_id: int, batch_size: int = 256,
                 max_logits: int = MAX_LOGITS) -> np.ndarray:
    """Total log-probability of each encoded completion (positions after ``prompt_len``), (N,).

    Works on token ids, so it scores what a policy generated even when the decoded string
    would not re-encode to the same ids. Evaluated in eval mode without gradients. A batch
    holds at most ``batch_size`` rows and at most ``max_logits`` logits (rows x longest
    sequence x vocabulary), so memory stays bounded whatever the vocabulary.
    """
    import torch

    out = np.empty(len(encoded))
    if not len(encoded):
        return out
    vocab = int(model.get_output_embeddings().weight.shape[0])
    longest = max(len(e.input_ids) for e in encoded)
    batch_size = max(1, min(batch_size, max_logits // max(1, longest * vocab)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in range(0, len(encoded), batch_size):
                b = {k: v.to(model.device)
                     for k, v in pad_batch(encoded[s:s + batch_size], pad_id).items()}
                logits = model(input_ids=b["input_ids"],
                               attention_mask=b["attention_mask"]).logits[:, :-1].float()
                tgt = b["labels"][:, 1:]
                lp = torch.log_softmax(logits, dim=-1)
                keep = tgt != IGNORE
                tok = lp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                out[s:s + len(b["input_ids"])] = (tok * keep).sum(-1).double().cpu().numpy()
    finally:
        model.train(was_training)
    return out
