"""Sampling completions from a causal LM, seeded, with token ids kept for exact scoring.

A completion is what the model writes after the prompt up to and including ``eos`` (or
``max_new_tokens`` tokens when it never stops: *unterminated*). Its text is the decoded
completion without special tokens and without the one leading space of the tokenizer
convention (:func:`rewardshift.lm.tokenizer.completion_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewardshift._exceptions import InputError
from rewardshift.lm.scoring import Encoded

__all__ = ["Completion", "decode_completion", "sample_completions"]


@dataclass(frozen=True)
class Completion:
    """One sampled completion.

    ``ids`` are the generated token ids up to and including ``eos`` when ``terminated``;
    ``encoded`` is prompt + completion ids, ready for :func:`~rewardshift.lm.scoring.ids_logprobs`.
    """

    prompt: str
    text: str
    ids: tuple[int, ...]
    prompt_ids: tuple[int, ...]
    terminated: bool

    @property
    def encoded(self) -> Encoded:
        return Encoded(list(self.prompt_ids) + list(self.ids), len(self.prompt_ids))


def decode_completion(tokenizer, ids: Sequence[int]) -> tuple[str, bool]:
    """``(text, terminated)`` of generated ids: cut at the first eos, decode, drop one space."""
    ids = list(ids)
    eos = tokenizer.eos_token_id
    terminated = eos in ids
    if terminated:
        ids = ids[:ids.index(eos)]
    ids = [i for i in ids if i != tokenizer.pad_token_id]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return (text[1:] if text.startswith(" ") else text), terminated


def sample_completions(model, tokenizer, prompts: Sequence[str], n: int, *, seed: int,
                       max_new_tokens: int = 40, temperature: float = 1.0,
                       batch_size: int = 256) -> list[Completion]:
    """``n`` completions of every prompt (prompt-major order), seeded.

    Sampling is ancestral (``do_sample=True``, no top-k / top-p) at ``temperature``; the torch
    RNG is seeded with ``seed`` and restored afterwards, so the caller's random state is
    untouched. The same seed, model and prompts give the same completions.
    """
    import torch

    if n < 1 or not prompts:
        raise InputError(f"sample_completions needs n >= 1 and at least one prompt; got n={n}, "
                         f"{len(prompts)} prompts")
    if not temperature > 0:
        raise InputError(f"temperature={temperature!r} must be > 0")
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    jobs = [(p, tuple(tokenizer(p, add_special_tokens=False)["input_ids"]))
            for p in prompts for _ in range(n)]
    out: list[Completion] = []
    state = torch.random.get_rng_state()
    was_training = model.training
    model.eval()
    try:
        torch.manual_seed(seed)
        for s in range(0, len(jobs), batch_size):
            chunk = jobs[s:s + batch_size]
            width = max(len(ids) for _, ids in chunk)
            # left-pad the prompts so every row continues from its last prompt token
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (_, ids) in enumerate(chunk):
                input_ids[i, width - len(ids):] = torch.tensor(ids)
                mask[i, width - len(ids):] = 1
            with torch.no_grad():
                gen = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True,
                                     temperature=temperature, top_k=0, top_p=1.0,
                                     max_new_tokens=max_new_tokens, pad_token_id=pad,
                                     eos_token_id=eos)
            for (p, ids), row in zip(chunk, gen[:, width:].tolist(), strict=True):
                text, terminated = decode_completion(tokenizer, row)
                keep = row[:row.index(eos) + 1] if terminated else [t for t in row if t != pad]
                out.append(Completion(p, text, tuple(keep), ids, terminated))
    finally:
        torch.random.set_rng_state(state)
        model.train(was_training)
    return out
