"""Generation backends: a local transformers model, an OpenAI-compatible server, a JSONL file.

Every backend follows :class:`Backend`: ``generate(prompts, config) -> list[Sample]`` with
``prompts`` a list of ``(prompt_id, prompt)`` pairs and ``config`` a :class:`GenerationConfig`,
and ``score(prompts, completions) -> ndarray`` of total log-probabilities where the backend
can. Samples come back prompt-major with ``meta["sample_index"]``, ``meta["finish_reason"]``
and ``meta["seed"]``; seeds derive per sample from ``(seed, prompt_id, sample_index)``
(:func:`sample_seed`).

* :class:`TransformersBackend` -- a causal LM from a folder, the hub or a GGUF file; records
  token ids, the total log-probability and per-token top-k log-probabilities; reproducible per
  seed whatever the batch size.
* :class:`OpenAIBackend` -- vLLM, SGLang, llama.cpp or the OpenAI API over HTTP; concurrency,
  timeouts, retries with backoff; the API key only ever read from the environment.
* :class:`JSONLBackend` -- samples made anywhere else.

Importing this package does not import torch; the transformers backend imports it on use.
"""

from rewardshift.generate.base import (
    Backend,
    GenerationConfig,
    GenerationError,
    Prompt,
    ServerError,
    check_prompts,
    sample_seed,
)
from rewardshift.generate.hf import TransformersBackend
from rewardshift.generate.jsonl import JSONLBackend
from rewardshift.generate.openai import OpenAIBackend

__all__ = [
    "Backend",
    "GenerationConfig",
    "GenerationError",
    "JSONLBackend",
    "OpenAIBackend",
    "Prompt",
    "ServerError",
    "TransformersBackend",
    "check_prompts",
    "sample_seed",
]
