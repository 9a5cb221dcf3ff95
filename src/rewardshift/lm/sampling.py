"""Sampling completions from a causal LM, seeded, with token ids kept for exact scoring.

A completion is what the model writes after the prompt up to and including ``eos`` (or
``max_new_tokens`` tokens when it never stops: *unterminated*). Its text is the decoded
completion without special tokens and without the one leading space of the tokenizer
convention (:func:`rewardshift.lm.tokenizer.completion_text`).

The decoding itself is :func:`rewardshift.generate.sampling.sample_ids`: sample ``j`` of the
``i``-th prompt has its own random stream, seeded with ``sample_seed(seed, str(i), j)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewardshift._exceptions import InputError
from rewardshift.generate.sampling import sample_ids
from rewardshift.generate.scoring import Encoded

__all__ = ["Completion", "decode_completion", "sample_completions"]


@dataclass(frozen=True)
class Completion:
    """One sampled completion.

    ``ids`` are the generated token ids up to and including ``eos`` when ``terminated``;
    ``encoded`` is prompt + completion ids, ready for
    :func:`~rewardshift.generate.scoring.ids_logprobs`.
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

    Sampling is ancestral (no top-k / top-p) at ``temperature``, one random stream per
    completion (:func:`~rewardshift.generate.sampling.sample_ids`): the same seed, model and
    prompts give the same completions whatever ``batch_size``, and the torch RNG is untouched.
    Prompts are encoded without special tokens; a completion ends at the tokenizer's ``eos``.
    """
    if n < 1 or not prompts:
        raise InputError(f"sample_completions needs n >= 1 and at least one prompt; got n={n}, "
                         f"{len(prompts)} prompts")
    if not temperature > 0:
        raise InputError(f"temperature={temperature!r} must be > 0")
    encoded = [tuple(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    drawn = sample_ids(model, encoded, n=n, seed=seed, max_new_tokens=max_new_tokens,
                       pad_id=tokenizer.pad_token_id, eos_ids={tokenizer.eos_token_id},
                       temperature=temperature, batch_size=batch_size)
    jobs = [(p, ids) for p, ids in zip(prompts, encoded, strict=True) for _ in range(n)]
    out = []
    for (p, ids), d in zip(jobs, drawn, strict=True):
        text, terminated = decode_completion(tokenizer, d.ids)
        out.append(Completion(p, text, tuple(d.ids), ids, terminated))
    return out
