"""Interned n-gram counts: the fast path for distinct-n, n-gram diversity and EAD on subsets.

Measuring with confidence intervals evaluates the same counting metrics on hundreds of
subsets of one sample set. :class:`NgramIndex` interns every n-gram of every sample once, as
an integer id, fully vectorised: the id of an n-gram is the rank of the pair
(id of its (n−1)-gram prefix, its last token), so order n is built from order n−1 by one
``np.unique``. A subset's unique and total counts are then a boolean gather and a
``bincount``. The values equal the pure functions of :mod:`rewardshift.metrics.lexical`
(tested), which remain the definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardshift.metrics.lexical import ead_from_counts  # the formula, defined once

__all__ = ["NgramIndex", "ead_from_counts"]


@dataclass
class NgramIndex:
    """Integer ids of every n-gram (n = 1..max_n) of a tokenized sample set.

    Attributes
    ----------
    ids : per order n (index n−1), the id of each n-gram occurrence, shape (C_n,).
    owner : per order n, the sample each occurrence belongs to, shape (C_n,).
    n_types : per order n, the number of distinct n-grams in the whole set.
    n_samples : number of samples indexed.
    """

    ids: list[np.ndarray]
    owner: list[np.ndarray]
    n_types: list[int]
    n_samples: int
    starts: list[np.ndarray]  # per order: first occurrence of each sample (owner is sorted)

    @classmethod
    def build(cls, tokenized: Sequence[Sequence[str]], *, max_n: int = 5) -> NgramIndex:
        lengths = np.fromiter((len(t) for t in tokenized), dtype=np.int64,
                              count=len(tokenized))
        flat = [tok for toks in tokenized for tok in toks]
        vocab: dict[str, int] = {}
        tok = np.fromiter((vocab.setdefault(w, len(vocab)) for w in flat), dtype=np.int64,
                          count=len(flat))
        owner_all = np.repeat(np.arange(len(tokenized)), lengths)
        # position of each token inside its sample, to know which n-grams fit
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
        pos = np.arange(len(tok)) - np.repeat(starts, lengths)
        remaining = np.repeat(lengths, lengths) - pos  # tokens from here to the sample's end

        ids, owners, n_types = [], [], []
        base = max(len(vocab), 1)  # token ids < base, so key = prefix_id·base + token is exact
        cur = tok
        for n in range(1, max_n + 1):
            if n > 1:  # an n-gram = (its (n−1)-gram prefix id, its last token id)
                fit = len(tok) - (n - 1)
                key = cur[:max(fit, 0)] * base + tok[n - 1:]
                cur = np.full(len(tok), -1, dtype=np.int64)
                if key.size:
                    cur[: key.size] = np.unique(key, return_inverse=True)[1]
            valid = remaining >= n
            ids.append(cur[valid])
            owners.append(owner_all[valid])
            n_types.append(int(cur[valid].max()) + 1 if valid.any() else 0)
        starts = [np.searchsorted(o, np.arange(len(tokenized) + 1)) for o in owners]
        return cls(ids=ids, owner=owners, n_types=n_types, n_samples=len(tokenized),
                   starts=starts)

    def counts(self, subset: np.ndarray, n: int) -> tuple[int, int]:
        """(unique, total) n-grams of order ``n`` among the samples in ``subset``."""
        ids, starts = self.ids[n - 1], self.starts[n - 1]
        if len(subset) * 8 < self.n_samples:  # a few samples: gather their ranges
            chosen = np.concatenate([ids[starts[i]:starts[i + 1]] for i in subset]) \
                if len(subset) else ids[:0]
            return int(np.unique(chosen).size), int(chosen.size)
        sel = np.zeros(self.n_samples, dtype=bool)
        sel[subset] = True
        chosen = ids[sel[self.owner[n - 1]]]
        if chosen.size == 0:
            return 0, 0
        present = np.bincount(chosen, minlength=self.n_types[n - 1]) > 0
        return int(present.sum()), int(chosen.size)
