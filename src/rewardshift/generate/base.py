"""What every generation backend shares: the config, the protocol, prompts, seeds, errors.

A *backend* turns prompts into :class:`~rewardshift.samples.Sample` records. Every backend
takes the same :class:`GenerationConfig` and returns samples in the same order and shape:

* prompt-major order: all ``n`` samples of the first prompt, then of the second, ...;
* ``meta["sample_index"]`` is ``0 .. n-1`` within a prompt, ``meta["finish_reason"]`` is
  ``"stop"`` (the model ended the text) or ``"length"`` (cut at ``max_new_tokens``), and
  ``meta["seed"]`` is the seed that drew the sample (see :func:`sample_seed`);
* ``logprob`` is the total log-probability of the generated tokens under the model *as it is*
  (temperature 1, no top-p truncation), ``top_logprobs`` the ``k`` most likely tokens at each
  generated position under that same distribution -- where the backend can tell.

Seeds are derived per prompt and per sample from ``(config.seed, prompt_id, sample_index)``, so
a sample does not change when other prompts are added, removed or reordered, nor with the
batch size or the number of concurrent requests.

Errors::

    RewardshiftError (ValueError)
    └── GenerationError          a backend could not produce or score samples
        └── ServerError          an HTTP server failed: connection, timeout, status, bad body
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rewardshift._exceptions import InputError, RewardshiftError
from rewardshift.samples import Sample

__all__ = [
    "Backend",
    "GenerationConfig",
    "GenerationError",
    "Prompt",
    "ServerError",
    "check_prompts",
    "sample_seed",
]

#: One input: ``(prompt_id, prompt)``; a bare string is its own id.
Prompt = tuple[str, str] | str

#: Seeds handed to backends stay below 2**31 (llama.cpp and some servers take a signed int32).
_SEED_RANGE = 2**31 - 1


class GenerationError(RewardshiftError):
    """Raised when a backend cannot produce or score samples (model, server or file)."""


class ServerError(GenerationError):
    """Raised when an HTTP server fails: refused connection, timeout, error status, bad body.

    Attributes
    ----------
    url : the endpoint that failed (never carries the API key).
    status : the HTTP status code, or ``None`` when no response came (connection, timeout).
    """

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url, self.status = url, status
        super().__init__(message)


@dataclass(frozen=True)
class GenerationConfig:
    """How to sample: the same settings for every backend.

    Raises
    ------
    InputError
        from ``__post_init__`` when a value is out of range, naming the field and the fix.
    """

    n: int = field(default=1, metadata={"help": "samples per prompt"})
    max_new_tokens: int = field(default=64, metadata={"help": "most tokens generated per sample"})
    temperature: float = field(default=1.0, metadata={
        "help": "softmax temperature; 0 is greedy decoding (every sample the argmax path)"})
    top_p: float = field(default=1.0, metadata={
        "help": "nucleus sampling: draw from the smallest set of tokens with mass >= top_p"})
    seed: int = field(default=0, metadata={"help": "base seed; per-sample seeds derive from it"})
    logprobs: bool = field(default=True, metadata={
        "help": "record each sample's total log-probability (Sample.logprob)"})
    top_logprobs: int = field(default=0, metadata={
        "help": "k: record the k most likely tokens at each position (0 = none)"})
    chat: bool = field(default=False, metadata={
        "help": "wrap each prompt as a user message in the model's chat template"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "system message placed before the prompt (chat only)"})

    def __post_init__(self) -> None:
        for name in ("n", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"GenerationConfig.{name}={value!r} must be an integer >= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"GenerationConfig.seed={self.seed!r} must be an integer")
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
                and self.temperature >= 0):
            raise InputError(f"GenerationConfig.temperature={self.temperature!r} must be a "
                             "finite number >= 0 (0 = greedy)")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise InputError(f"GenerationConfig.top_p={self.top_p!r} must be in (0, 1]; "
                             "1 keeps the whole distribution")
        k = self.top_logprobs
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise InputError(f"GenerationConfig.top_logprobs={k!r} must be an integer >= 0")
        if k and not self.logprobs:
            raise InputError(f"GenerationConfig.top_logprobs={k} needs logprobs=True")
        if self.system_prompt is not None and not self.chat:
            raise InputError("GenerationConfig.system_prompt is set but chat=False; a system "
                             "prompt needs the chat template: set chat=True or drop it")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (for ``config.json``)."""
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """A source of samples.

    Attributes
    ----------
    source : written into every sample's ``source`` field (which model produced it).
    """

    source: str

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[Sample]:
        """``config.n`` samples of every prompt, prompt-major (see the module docstring)."""
        ...

    def score(self, prompts: Sequence[str], completions: Sequence[str],
              config: GenerationConfig | None = None) -> np.ndarray:
        """Total log-probability of each completion given its prompt, shape ``(N,)``.

        Raises :class:`GenerationError` where the backend cannot score.
        """
        ...


def check_prompts(prompts: Sequence[Prompt]) -> list[tuple[str, str]]:
    """Validate prompts and return them as ``[(prompt_id, prompt), ...]``.

    A bare string is its own id (as in :mod:`rewardshift.samples`); integer ids become strings.

    Raises
    ------
    InputError
        for an empty list, a malformed item or a repeated ``prompt_id``.
    """
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
        raise InputError(f"prompts must be a list of (prompt_id, prompt) pairs, got "
                         f"{type(prompts).__name__}")
    if not prompts:
        raise InputError("prompts is empty; give at least one (prompt_id, prompt) pair")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(prompts):
        if isinstance(item, str):
            pid, text = item, item
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pid, text = item
        else:
            raise InputError(f"prompts[{i}] = {item!r:.80} is not a (prompt_id, prompt) pair")
        if isinstance(pid, bool) or not isinstance(pid, (str, int)):
            raise InputError(f"prompts[{i}]: prompt_id must be a string or integer, got "
                             f"{type(pid).__name__}")
        if not isinstance(text, str):
            raise InputError(f"prompts[{i}]: prompt must be a string, got {type(text).__name__}")
        pid = str(pid)
        if pid in seen:
            raise InputError(f"prompts[{i}]: prompt_id {pid!r} appears twice; ids must be unique "
                             "(use GenerationConfig.n for several samples of one prompt)")
        seen.add(pid)
        out.append((pid, text))
    return out


def sample_seed(seed: int, prompt_id: str, index: int) -> int:
    """The seed of sample ``index`` of prompt ``prompt_id`` under base seed ``seed``.

    ``blake2b("{seed}\\0{prompt_id}\\0{index}")`` reduced to ``[0, 2**31 - 1)``: stable across
    processes and platforms (unlike ``hash``), and independent of the other prompts.
    """
    digest = hashlib.blake2b(f"{seed}\0{prompt_id}\0{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _SEED_RANGE


def check_pairs(prompts: Sequence[str], completions: Sequence[str]) -> None:
    """Raise :class:`InputError` unless ``prompts`` and ``completions`` are equal-length strings."""
    if len(prompts) != len(completions):
        raise InputError(f"score: {len(prompts)} prompts but {len(completions)} completions; "
                         "give one prompt per completion")
    for name, seq in (("prompts", prompts), ("completions", completions)):
        for i, s in enumerate(seq):
            if not isinstance(s, str):
                raise InputError(f"score: {name}[{i}] is a {type(s).__name__}, not a string")
