"""Helpers of the probe tests: fast settings, a fake encoder, fake backends from fixed texts."""

from __future__ import annotations

import numpy as np

from rewardshift.measure import MeasureConfig
from rewardshift.samples import Sample

#: measure() with few resamples and no sentence encoder: the probes' plumbing, quickly.
FAST = MeasureConfig(embeddings=False, n_bootstrap=200, n_resamples=10)


class FakeEncoder:
    """A sentence-transformers stand-in: hashed bag-of-words vectors (no model, no torch)."""

    dim = 64

    def encode(self, texts, **_):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, hash(w.strip(".,!?")) % self.dim] += 1.0
            out[i, -1] += 1e-3  # never a zero row
        return out

    def get_sentence_embedding_dimension(self):
        return self.dim


def cycling_generator(texts, *, record=None):
    """``generate(prompts, n, temperature, seed)`` that cycles through fixed ``texts``."""

    def generate(prompts, n, temperature, seed):
        if record is not None:
            record.append((len(prompts), n, temperature, seed))
        out, k = [], 0
        for pid, prompt in prompts:
            for _ in range(n):
                out.append(Sample(text=texts[k % len(texts)], prompt_id=pid, prompt=prompt))
                k += 1
        return out

    return generate

