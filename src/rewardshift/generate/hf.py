"""The transformers backend: sample from a local (or hub) causal LM, seeded, with log-probs.

Loading: ``AutoModelForCausalLM.from_pretrained(name_or_path, gguf_file=...)`` and the
tokenizer the same way; a path to a ``.gguf`` file is split into its folder and file name.
GGUF weights are de-quantised to float32 by transformers (needs the ``gguf`` package).

Decoding is a plain ancestral loop over the KV cache, written here rather than through
``model.generate`` so that every sample has its own random stream: sample ``j`` of prompt
``p`` draws the uniforms ``u_1, u_2, ...`` from ``numpy.random.default_rng(sample_seed(seed,
p, j))`` and takes at step ``t`` the token

    y_t = min { i : F_t(i) > u_t },   F_t the CDF of softmax(logits_t / T), truncated to top-p

(inverse-CDF sampling). The samples therefore do not depend on the batch size, on the other
prompts or on the global torch RNG; ``T = 0`` is greedy decoding.

What is recorded, per sample: ``token_ids`` (the generated ids, with the end-of-sequence token
when the model stopped), ``logprob = sum_t log softmax(logits_t)[y_t]`` over those ids under
the model itself (temperature 1, no truncation: the model's probability of writing exactly
this and, when it stopped, stopping), and with ``top_logprobs = k`` the ``k`` largest entries
of ``log softmax(logits_t)`` at each of those positions, keyed by the decoded token string
(when two ids decode to the same string, the more likely one is kept). ``text`` is the decoded
completion without special tokens, exactly as decoded (no whitespace stripped).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.generate.base import (
    GenerationConfig,
    GenerationError,
    Prompt,
    check_pairs,
    check_prompts,
    sample_seed,
)
from rewardshift.samples import Sample

__all__ = ["TransformersBackend"]


@dataclass(frozen=True)
class _Job:
    """One sample to draw: its prompt, index, seed and prompt token ids."""

    prompt_id: str
    prompt: str
    index: int
    seed: int
    prompt_ids: tuple[int, ...]


@dataclass(frozen=True)
class _Drawn:
    """What decoding produced for one job."""

    ids: list[int]
    logprobs: list[float]
    top_ids: list[list[int]]
    top_lps: list[list[float]]
    stopped: bool


class TransformersBackend:
    """Generate with a transformers causal LM on this machine.

    Parameters
    ----------
    model : a ``PreTrainedModel`` with a causal-LM head (put on its device by the caller).
    tokenizer : its tokenizer; a missing pad token is set to the eos token.
    source : written into every sample's ``source``.
    batch_size : rows decoded together (prompt x sample); changes speed, not samples.

    Use :meth:`from_pretrained` to load from a folder, a hub name or a GGUF file.
    """

    def __init__(self, model: Any, tokenizer: Any, *, source: str, batch_size: int = 16) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be an integer >= 1")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer = model, tokenizer
        self.source, self.batch_size = source, batch_size
        self._eos = _eos_ids(model, tokenizer)
        if not self._eos:
            raise GenerationError(f"{source}: neither the tokenizer nor the generation config "
                                  "names an end-of-sequence token; set tokenizer.eos_token")

    def __repr__(self) -> str:
        return f"TransformersBackend(source={self.source!r}, batch_size={self.batch_size})"

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], *,
                        gguf_file: str | None = None, revision: str | None = None,
                        device: str | None = None, dtype: str | None = None,
                        source: str | None = None, batch_size: int = 16) -> TransformersBackend:
        """Load model and tokenizer with ``AutoModelForCausalLM`` / ``AutoTokenizer``.

        Parameters
        ----------
        name_or_path : a local folder, a hub name, or a path to a ``.gguf`` file.
        gguf_file : a GGUF file name inside ``name_or_path`` (needs ``pip install gguf``).
        revision : hub revision (branch, tag or commit) when loading from the hub.
        device : torch device to run on (``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...); default
            ``"cuda"`` when a GPU is visible, else ``"cpu"``.
        dtype : torch dtype name (``"float32"``, ``"bfloat16"``); default: the checkpoint's.
        source : the samples' ``source``; default the GGUF file name or ``name_or_path``.
        batch_size : rows decoded together.

        Raises
        ------
        MissingDependencyError
            without torch / transformers (``rewardshift[lm]``) or, for GGUF, ``gguf``.
        GenerationError
            when the model or tokenizer cannot be loaded (the message says what was tried).
        """
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise MissingDependencyError("transformers", "lm") from e
        path = os.fspath(name_or_path)
        if gguf_file is None and path.endswith(".gguf") and Path(path).is_file():
            path, gguf_file = str(Path(path).parent), Path(path).name
        if gguf_file is not None:
            try:
                import gguf  # noqa: F401
            except ImportError as e:
                raise MissingDependencyError("gguf", "lm") from e
        kwargs: dict[str, Any] = {}
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        if revision is not None:
            kwargs["revision"] = revision
        what = f"{path} (gguf_file={gguf_file})" if gguf_file else path
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(
                path, **kwargs, **({"dtype": dtype} if dtype else {}))
        except (OSError, ValueError) as e:
            raise GenerationError(f"cannot load a causal LM from {what}: {e}") from e
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model.to(device)
        model.eval()
        return cls(model, tokenizer, source=source or gguf_file or path, batch_size=batch_size)

    # ------------------------------------------------------------------ encoding

    def encode_prompt(self, prompt: str, config: GenerationConfig | None = None) -> list[int]:
        """The token ids the model sees for ``prompt``: chat template or plain encoding.

        Plain encoding adds the tokenizer's special tokens (e.g. a BOS) as the model expects.

        Raises
        ------
        GenerationError
            for ``chat=True`` when the tokenizer has no chat template.
        """
        config = config or GenerationConfig()
        tok = self.tokenizer
        if not config.chat:
            return list(tok(prompt)["input_ids"])
        if not getattr(tok, "chat_template", None):
            raise GenerationError(f"{self.source}: the tokenizer has no chat template; use "
                                  "GenerationConfig(chat=False) for this model")
        messages = [{"role": "user", "content": prompt}]
        if config.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": config.system_prompt})
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers 5 returns an encoding
            ids = ids["input_ids"]
        return list(ids)

    # ------------------------------------------------------------------ generate

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[Sample]:
        """``config.n`` samples of each prompt, prompt-major, seeded per sample.

        Raises
        ------
        InputError
            for malformed prompts.
        GenerationError
            for ``chat=True`` without a chat template.
        """
        pairs = check_prompts(prompts)
        jobs = []
        for pid, prompt in pairs:
            ids = tuple(self.encode_prompt(prompt, config))
            if not ids:
                raise InputError(f"prompt {pid!r} encodes to no tokens; give a non-empty prompt "
                                 "or a tokenizer that adds a BOS token")
            jobs += [_Job(pid, prompt, j, sample_seed(config.seed, pid, j), ids)
                     for j in range(config.n)]
        self._check_length(max(len(j.prompt_ids) for j in jobs), config.max_new_tokens)
        drawn: list[_Drawn] = []
        was_training = self.model.training
        self.model.eval()  # no dropout: the seed alone decides the samples
        try:
            for s in range(0, len(jobs), self.batch_size):
                drawn += self._decode(jobs[s:s + self.batch_size], config)
        finally:
            self.model.train(was_training)
        return self._to_samples(jobs, drawn, config)

    def _check_length(self, prompt_len: int, new_tokens: int) -> None:
        """Refuse prompts + new tokens longer than the model's position table."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and prompt_len + new_tokens > limit:
            raise InputError(f"{self.source}: the longest prompt has {prompt_len} tokens and "
                             f"max_new_tokens={new_tokens}, over the model's {limit} positions; "
                             "shorten the prompts or lower max_new_tokens")

    def _decode(self, jobs: Sequence[_Job], config: GenerationConfig) -> list[_Drawn]:
        """Decode one batch: left-padded prompts, then one token per step over the KV cache."""
        import torch

        dev = self.model.device
        width = max(len(j.prompt_ids) for j in jobs)
        b = len(jobs)
        ids = torch.full((b, width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        for i, job in enumerate(jobs):
            ids[i, width - len(job.prompt_ids):] = torch.tensor(job.prompt_ids)
            mask[i, width - len(job.prompt_ids):] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        # (B, T) uniforms, one stream per sample: the batch never changes what a row draws
        u = torch.from_numpy(np.stack([np.random.default_rng(j.seed).random(config.max_new_tokens)
                                       for j in jobs]))
        eos = torch.tensor(sorted(self._eos), device=dev)
        k = config.top_logprobs
        rows = [_Drawn([], [], [], [], False) for _ in jobs]
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        cache_kw = _cache_keyword(self.model)
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
            for t in range(config.max_new_tokens):
                logp = torch.log_softmax(out.logits[:, -1].double(), dim=-1)  # (B, V)
                nxt = _choose(logp, u[:, t].to(dev), config.temperature, config.top_p)  # (B,)
                chosen = logp.gather(-1, nxt[:, None])[:, 0].tolist()
                top = torch.topk(logp, min(k, logp.shape[-1]), dim=-1) if k else None
                nxt_list = nxt.tolist()
                top_ids, top_lps = (top.indices.tolist(), top.values.tolist()) if k else ([], [])
                for i in (~done).nonzero()[:, 0].tolist():
                    rows[i].ids.append(nxt_list[i])
                    rows[i].logprobs.append(chosen[i])
                    if k:
                        rows[i].top_ids.append(top_ids[i])
                        rows[i].top_lps.append(top_lps[i])
                done |= torch.isin(nxt, eos)
                if bool(done.all()) or t + 1 == config.max_new_tokens:
                    break
                mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=dev)], -1)
                pos = pos[:, -1:] + 1
                out = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                                 use_cache=True, **{cache_kw: getattr(out, cache_kw)})
        return [dataclasses.replace(r, stopped=bool(r.ids) and r.ids[-1] in self._eos)
                for r in rows]

    def _to_samples(self, jobs: Sequence[_Job], drawn: Sequence[_Drawn],
                    config: GenerationConfig) -> list[Sample]:
        tok = self.tokenizer
        names: dict[int, str] = {}

        def name(i: int) -> str:
            if i not in names:
                names[i] = tok.decode([i])
            return names[i]

        out = []
        for job, d in zip(jobs, drawn, strict=True):
            body = d.ids[:-1] if d.stopped else d.ids
            top = None
            if config.top_logprobs:
                top = tuple(_top_dict(ids, lps, name) for ids, lps in zip(d.top_ids, d.top_lps,
                                                                          strict=True))
            out.append(Sample(
                text=tok.decode(body, skip_special_tokens=True), prompt_id=job.prompt_id,
                prompt=job.prompt, token_ids=tuple(d.ids),
                logprob=float(sum(d.logprobs)) if config.logprobs else None,
                top_logprobs=top, source=self.source,
                meta={"sample_index": job.index, "finish_reason": "stop" if d.stopped else "length",
                      "seed": job.seed}))
        return out

    # ------------------------------------------------------------------ score

    def score(self, prompts: Sequence[str], completions: Sequence[str],
              config: GenerationConfig | None = None, *, eos: bool = True,
              batch_size: int | None = None) -> np.ndarray:
        """``log pi(completion | prompt)`` of each pair, shape ``(N,)``.

        The prompt is encoded as in :meth:`generate` (chat template when ``config.chat``), the
        completion as ``tokenizer(completion, add_special_tokens=False)`` plus, with ``eos``
        (default), the end-of-sequence token: the probability of writing the text and then
        stopping, comparable with :attr:`Sample.logprob` of a sample that stopped.
        """
        from rewardshift.lm.scoring import Encoded, ids_logprobs

        check_pairs(prompts, completions)
        if not prompts:
            return np.empty(0)
        tail = [self.tokenizer.eos_token_id] if eos else []
        cache: dict[str, list[int]] = {}
        encoded = []
        for p, c in zip(prompts, completions, strict=True):
            if p not in cache:
                cache[p] = self.encode_prompt(p, config)
            c_ids = list(self.tokenizer(c, add_special_tokens=False)["input_ids"]) + tail
            if not c_ids:
                raise InputError("score: an empty completion with eos=False has no tokens to "
                                 "score; pass eos=True or drop it")
            encoded.append(Encoded(cache[p] + c_ids, len(cache[p])))
        return ids_logprobs(self.model, encoded, pad_id=self.tokenizer.pad_token_id,
                            batch_size=batch_size or self.batch_size)


def _cache_keyword(model: Any) -> str:
    """The name ``model.forward`` takes the KV cache under (and its output carries it as).

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns, and goes in
    5.40); earlier 5.x releases know only ``past_key_values``.
    """
    return ("cache" if "cache" in inspect.signature(model.forward).parameters
            else "past_key_values")


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
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


def _top_dict(ids: Sequence[int], lps: Sequence[float], name: Any) -> dict[str, float]:
    """``{token string: logprob}``, most likely first; a repeated string keeps its first."""
    out: dict[str, float] = {}
    for i, lp in zip(ids, lps, strict=True):
        out.setdefault(name(i), float(lp))
    return out
