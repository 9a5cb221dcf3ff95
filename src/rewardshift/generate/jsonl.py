"""The JSONL backend: samples produced anywhere else, read from a file.

The file is any sample file :func:`rewardshift.samples.iter_samples` reads (``.jsonl`` or
``.parquet``), validated line by line with its errors (file, line, field). ``generate`` hands
back, for each requested prompt, the first ``config.n`` samples whose ``prompt_id`` matches, in
file order, so the same file and config always give the same samples; the sampling settings of
the config (temperature, seed, ...) are not checked against how the file was made.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.generate.base import GenerationConfig, GenerationError, Prompt, check_prompts
from rewardshift.samples import Sample, iter_samples

__all__ = ["JSONLBackend"]


class JSONLBackend:
    """Serve samples from a sample file.

    Parameters
    ----------
    path : a ``.jsonl`` or ``.parquet`` sample file.
    source : the ``source`` of samples that name none; default the file's stem. A sample's
        own ``source`` is kept.
    """

    def __init__(self, path: str | os.PathLike[str], *, source: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such sample file; give the path of a .jsonl or "
                             ".parquet file of samples")
        self.source = source or self.path.stem

    def __repr__(self) -> str:
        return f"JSONLBackend(path={str(self.path)!r}, source={self.source!r})"

    def samples(self) -> list[Sample]:
        """Every sample in the file, in file order.

        Raises
        ------
        SampleFileError
            for a malformed line (naming file, line and field).
        """
        return list(iter_samples(self.path, source=self.source))

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[Sample]:
        """The first ``config.n`` samples of each prompt, prompt-major.

        A sample matches a prompt by ``prompt_id``; a sample with an empty ``prompt`` takes the
        requested one. ``meta["sample_index"]`` is set to the position among the prompt's
        samples when the file does not give it.

        Raises
        ------
        SampleFileError
            for a malformed line.
        InputError
            when a prompt has fewer than ``config.n`` samples in the file, or a sample's
            ``prompt`` differs from the requested prompt text of its ``prompt_id``.
        """
        pairs = check_prompts(prompts)
        wanted = dict(pairs)
        found: dict[str, list[Sample]] = {pid: [] for pid in wanted}
        for s in iter_samples(self.path, source=self.source):
            bucket = found.get(s.prompt_id)
            if bucket is None or len(bucket) >= config.n:
                continue
            prompt = wanted[s.prompt_id]
            if s.prompt and s.prompt != prompt:
                raise InputError(f"{self.path}: prompt_id {s.prompt_id!r} has prompt "
                                 f"{s.prompt!r:.80} in the file but {prompt!r:.80} was asked; "
                                 "the ids must name the same prompts")
            meta: dict[str, Any] = dict(s.meta)
            meta.setdefault("sample_index", len(bucket))
            bucket.append(dataclasses.replace(s, prompt=prompt, meta=meta))
            if all(len(b) >= config.n for b in found.values()):
                break
        short = {pid: len(b) for pid, b in found.items() if len(b) < config.n}
        if short:
            listed = ", ".join(f"{pid!r}: {k}" for pid, k in list(short.items())[:5])
            raise InputError(f"{self.path}: {len(short)} prompt(s) have fewer than n={config.n} "
                             f"samples ({listed}{', ...' if len(short) > 5 else ''}); lower n "
                             "or add samples")
        return [s for pid, _ in pairs for s in found[pid]]

    def score(self, prompts: Sequence[str], completions: Sequence[str],
              config: GenerationConfig | None = None) -> np.ndarray:
        """Not available: a file holds no model.

        Raises
        ------
        GenerationError
            always; score with a model backend (``TransformersBackend``) instead.
        """
        raise GenerationError(f"{self.path}: a JSONL backend has no model to score with; use "
                              "the samples' own logprob or TransformersBackend")
