"""Sampling token ids from a transformers causal LM: the one decoder of rewardshift.

:class:`~rewardshift.generate.hf.TransformersBackend`,
:func:`rewardshift.lm.sampling.sample_completions` and the training monitor's
:class:`~rewardshift.monitor.callbacks.SamplingMonitorCallback` all decode with
:func:`sample_ids`; they differ only in how they encode prompts and decode texts.

Decoding is a plain ancestral loop over the KV cache, written here rather than through
``model.generate`` so that every sample has its own random stream: sample ``j`` of the prompt
keyed ``p`` draws the uniforms ``u_1, u_2, ...`` from ``numpy.random.default_rng(s)``, ``s =
sample_seed(seed, p, j)`` (:func:`~rewardshift.generate.base.sample_seed`), and takes at step
``t`` the token

    y_t = min { i : F_t(i) > u_t },   F_t the CDF of softmax(logits_t / T), truncated to top-p

(inverse-CDF sampling). The samples therefore do not depend on the batch size, on the other
prompts or on the global torch RNG (which is never touched, so a training run's random state is
the same with or without sampling); ``T = 0`` is greedy decoding.

Per sample :func:`sample_ids` records the generated ids (with the end-of-sequence token when the
model stopped), ``log softmax(logits_t)[y_t]`` of each (temperature 1, no truncation: the
model's own probability) and, with ``top_logprobs = k``, the ``k`` largest entries of
``log softmax(logits_t)`` at each step.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.generate.base import sample_seed

__all__ = ["Drawn", "eos_token_ids", "sample_ids"]


@dataclass(frozen=True)
class Drawn:
    """What decoding produced for one sample.

    ``ids`` are the generated ids, ending with an end-of-sequence id when ``stopped``;
    ``logprobs[t]`` is the model's log-probability of ``ids[t]``; ``top_ids[t]`` /
    ``top_lps[t]`` the ``top_logprobs`` most likely ids at step ``t`` and their
    log-probabilities (empty lists when ``top_logprobs=0``); ``seed`` the sample's seed.
    """

    ids: list[int]
    logprobs: list[float]
    top_ids: list[list[int]]
    top_lps: list[list[float]]
    stopped: bool
    seed: int


def sample_ids(model: Any, prompt_ids: Sequence[Sequence[int]], *, n: int = 1, seed: int,
               max_new_tokens: int, pad_id: int, eos_ids: Collection[int],
               keys: Sequence[str] | None = None, temperature: float = 1.0,
               top_p: float = 1.0, top_logprobs: int = 0, batch_size: int = 16) -> list[Drawn]:
    """Sample ``n`` continuations of each prompt, prompt-major, one random stream per sample.

    Parameters
    ----------
    model : a transformers causal LM (on its device); put in eval mode to sample, then restored.
    prompt_ids : token ids of each prompt, each non-empty.
    n : int >= 1, default=1
        Samples per prompt.
    seed : int
        Base seed: sample ``j`` of prompt ``i`` is seeded ``sample_seed(seed, keys[i], j)``.
    max_new_tokens : int >= 1
        Most tokens generated per sample.
    pad_id : id the prompts are left-padded with (masked, so any id works).
    eos_ids : ids that end a sample (:func:`eos_token_ids`).
    keys : one str per prompt, or None for ``str(i)``, the prompt's position
        Give stable prompt ids to make a prompt's samples independent of the other prompts.
    temperature : float >= 0, default=1.0
        ``0`` for greedy decoding.
    top_p : float in (0, 1], default=1.0
        Nucleus sampling; ``1`` samples the model's full distribution.
    top_logprobs : int >= 0, default=0
        How many of the most likely tokens to record at each step.
    batch_size : int >= 1, default=16
        Samples decoded together; changes speed, not samples.

    Returns
    -------
    list of Drawn
        ``n * len(prompt_ids)``: the ``n`` samples of the first prompt, then of the second, ...
    """
    keys = [str(i) for i in range(len(prompt_ids))] if keys is None else keys
    if len(keys) != len(prompt_ids):
        raise InputError(f"sample_ids: {len(prompt_ids)} prompts but {len(keys)} keys; give "
                         "one key per prompt")
    if any(len(ids) == 0 for ids in prompt_ids):
        raise InputError("sample_ids: a prompt encodes to no tokens; give a non-empty prompt or "
                         "a tokenizer that adds a BOS token")
    if not eos_ids:
        raise InputError("sample_ids: eos_ids is empty; give the end-of-sequence token ids")
    rows = [(tuple(ids), sample_seed(seed, key, j))
            for ids, key in zip(prompt_ids, keys, strict=True) for j in range(n)]
    out: list[Drawn] = []
    was_training = model.training
    model.eval()  # no dropout: the seed alone decides the samples
    try:
        for s in range(0, len(rows), batch_size):
            out += _decode(model, rows[s:s + batch_size], max_new_tokens=max_new_tokens,
                           pad_id=pad_id, eos_ids=eos_ids, temperature=temperature,
                           top_p=top_p, top_logprobs=top_logprobs)
    finally:
        model.train(was_training)
    return out


def eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """End-of-sequence ids from the tokenizer and the model's generation config."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif isinstance(gen_eos, (list, tuple)):
        ids.update(int(i) for i in gen_eos)
    return ids


def _decode(model: Any, rows: Sequence[tuple[tuple[int, ...], int]], *, max_new_tokens: int,
            pad_id: int, eos_ids: Collection[int], temperature: float, top_p: float,
            top_logprobs: int) -> list[Drawn]:
    """Decode one batch: left-padded prompts, then one token per step over the KV cache."""
    import torch

    dev = _device(model)
    width = max(len(ids) for ids, _ in rows)
    b = len(rows)
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for i, (p, _) in enumerate(rows):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    # (B, T) uniforms, one stream per row: the batch never changes what a row draws
    u = torch.from_numpy(np.stack([np.random.default_rng(s).random(max_new_tokens)
                                   for _, s in rows]))
    eos = torch.tensor(sorted(eos_ids), device=dev)
    k = top_logprobs
    drawn = [Drawn([], [], [], [], False, s) for _, s in rows]
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    cache_kw = _cache_keyword(model)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        for t in range(max_new_tokens):
            logp = torch.log_softmax(out.logits[:, -1].double(), dim=-1)  # (B, V)
            nxt = _choose(logp, u[:, t].to(dev), temperature, top_p)  # (B,)
            chosen = logp.gather(-1, nxt[:, None])[:, 0].tolist()
            top = torch.topk(logp, min(k, logp.shape[-1]), dim=-1) if k else None
            nxt_list = nxt.tolist()
            top_ids, top_lps = ((top.indices.tolist(), top.values.tolist()) if top is not None
                                else ([], []))
            for i in (~done).nonzero()[:, 0].tolist():
                drawn[i].ids.append(nxt_list[i])
                drawn[i].logprobs.append(chosen[i])
                if k:
                    drawn[i].top_ids.append(top_ids[i])
                    drawn[i].top_lps.append(top_lps[i])
            done |= torch.isin(nxt, eos)
            if bool(done.all()) or t + 1 == max_new_tokens:
                break
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=dev)], -1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                        use_cache=True, **{cache_kw: getattr(out, cache_kw)})
    return [dataclasses.replace(r, stopped=bool(r.ids) and r.ids[-1] in eos_ids)
            for r in drawn]


def _device(model: Any) -> Any:
    """Where the model's inputs go (``model.device``, else its first parameter's)."""
    dev = getattr(model, "device", None)
    return dev if dev is not None else next(model.parameters()).device


def _cache_keyword(model: Any) -> str:
    """The name ``model.forward`` takes the KV cache under (and its output carries it as).

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns, and goes in
    5.40); earlier 5.x releases know only ``past_key_values``.
    """
    return ("cache" if "cache" in inspect.signature(model.forward).parameters
            else "past_key_values")


def _choose(logp: Any, u: Any, temperature: float, top_p: float) -> Any:
    """Next token of each row by inverse-CDF sampling with uniforms ``u``; argmax at T = 0.

    ``logp`` is (B, V) float64 log-probabilities, ``u`` (B,) uniforms in [0, 1).
    """
    import torch

    if temperature == 0:
        return logp.argmax(-1)
    probs = torch.softmax(logp / temperature, dim=-1)
    if top_p < 1:
        probs, order = probs.sort(dim=-1, descending=True)
        before = probs.cumsum(-1) - probs  # mass of the more likely tokens
        probs = probs * (before < top_p)  # the smallest prefix with mass >= top_p
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u.double() * cdf[:, -1])[:, None], right=True)
    idx = idx.clamp(max=probs.shape[-1] - 1)
    return order.gather(-1, idx)[:, 0] if top_p < 1 else idx[:, 0]
