"""The transformers backend: sample from a local (or hub) causal LM, seeded, with log-probs.

Loading: ``AutoModelForCausalLM.from_pretrained(name_or_path, gguf_file=...)`` and the
tokenizer the same way; a path to a ``.gguf`` file is split into its folder and file name.
GGUF weights are de-quantised to float32 by transformers (needs the ``gguf`` package).

Decoding is :func:`rewardshift.generate.sampling.sample_ids` (inverse-CDF sampling over the KV
cache, one random stream per sample): sample ``j`` of prompt ``p`` is seeded with
``sample_seed(seed, p, j)``, so the samples do not depend on the batch size, on the other
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
)
from rewardshift.generate.sampling import Drawn, eos_token_ids, sample_ids
from rewardshift.samples import Sample

__all__ = ["TransformersBackend"]


@dataclass(frozen=True)
class _Job:
    """One sample to draw: its prompt and index."""

    prompt_id: str
    prompt: str
    index: int


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
        self._eos = eos_token_ids(model, tokenizer)
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
        # transformers wraps PreTrainedModel.to in a decorator whose stub loses the signature
        model.to(device)  # type: ignore[arg-type]
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
        encoded = []
        for pid, prompt in pairs:
            encoded.append(self.encode_prompt(prompt, config))
            if not encoded[-1]:
                raise InputError(f"prompt {pid!r} encodes to no tokens; give a non-empty prompt "
                                 "or a tokenizer that adds a BOS token")
        self._check_length(max(len(ids) for ids in encoded), config.max_new_tokens)
        drawn = sample_ids(self.model, encoded, n=config.n, seed=config.seed,
                           keys=[pid for pid, _ in pairs], max_new_tokens=config.max_new_tokens,
                           pad_id=self.tokenizer.pad_token_id, eos_ids=self._eos,
                           temperature=config.temperature, top_p=config.top_p,
                           top_logprobs=config.top_logprobs, batch_size=self.batch_size)
        jobs = [_Job(pid, prompt, j) for pid, prompt in pairs for j in range(config.n)]
        return self._to_samples(jobs, drawn, config)

    def _check_length(self, prompt_len: int, new_tokens: int) -> None:
        """Refuse prompts + new tokens longer than the model's position table."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and prompt_len + new_tokens > limit:
            raise InputError(f"{self.source}: the longest prompt has {prompt_len} tokens and "
                             f"max_new_tokens={new_tokens}, over the model's {limit} positions; "
                             "shorten the prompts or lower max_new_tokens")

    def _to_samples(self, jobs: Sequence[_Job], drawn: Sequence[Drawn],
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
                      "seed": d.seed}))
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
        from rewardshift.generate.scoring import Encoded, ids_logprobs

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


def _top_dict(ids: Sequence[int], lps: Sequence[float], name: Any) -> dict[str, float]:
    """``{token string: logprob}``, most likely first; a repeated string keeps its first."""
    out: dict[str, float] = {}
    for i, lp in zip(ids, lps, strict=True):
        out.setdefault(name(i), float(lp))
    return out
