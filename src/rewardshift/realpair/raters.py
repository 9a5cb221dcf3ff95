"""Biased raters of real text: sentiment, brevity and typicality, as a Bradley–Terry panel.

The raters of issue 3's laboratory and issue 4's grammar judge feature vectors or grammar
texts; these judge free text written by a real language model. Each rater scores a
completion ``y`` of prompt ``x`` by the utility

    u(y | x) = w_s * sentiment(y) + w_b * brevity(y) + alpha * typicality(y | x)

* ``sentiment(y)``: VADER's compound score in [-1, 1] (Hutto & Gilbert 2014;
  :func:`rewardshift.metrics.sentiment.vader_compound`). Raters like upbeat answers -- the bias
  behind Generative Monoculture's "5.9% vs 82%" positive reviews (Wu et al. 2024).
* ``brevity(y) = -words(y) / 40``: raters like short answers (a length bias of the opposite
  sign to the usual one, chosen so that it cannot be confused with VADER's saturation on long
  texts, which pushes longer texts toward +-1).
* ``typicality(y | x) = log pi_ref(y | x) / tokens(y)``: the mean per-token log-probability of
  ``y`` under the base model, the typicality bias ``alpha * log pi_ref`` of Verbalized
  Sampling (Zhang et al. 2025, arXiv 2510.01171, eq. 1), taken per token so that it does not
  double as a second brevity term (a text's total log-probability falls with its length).

A pair ``(a, b)`` is labelled by the Bradley–Terry model (Bradley & Terry 1952):
``P(a preferred) = sigmoid(u(a) - u(b))``, drawn with a seeded generator, so the labels are
noisy the way a rater panel's are, and the same seed gives the same labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError

__all__ = ["RealRaters", "label_pairs", "pair_summary", "trim_to_sentence", "word_count"]

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n\n")


def word_count(text: str) -> int:
    """Whitespace-separated words in ``text``."""
    return len(_WORD.findall(text))


def trim_to_sentence(text: str, *, min_chars: int = 20) -> str:
    """``text`` cut after its last finished sentence (``.``, ``!``, ``?`` or a blank line).

    Samples stop at a token budget, often mid-word; raters read, and DPO learns from, whole
    sentences. A text with no sentence end after ``min_chars`` characters is returned
    stripped but otherwise whole.

    >>> trim_to_sentence("Great kettle. Boils fast! The lid is a bit fl")
    'Great kettle. Boils fast!'
    """
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() >= min_chars]
    return (text[:ends[-1]] if ends else text).strip()


@dataclass(frozen=True)
class RealRaters:
    """The raters' weights (see the module docstring for the utility)."""

    sentiment: float = field(default=3.0, metadata={"help": "weight of VADER compound"})
    brevity: float = field(default=1.0, metadata={"help": "weight of -words/40"})
    alpha: float = field(default=1.0, metadata={
        "help": "typicality weight on the mean per-token log pi_base"})

    def __post_init__(self) -> None:
        for name in ("sentiment", "brevity", "alpha"):
            v = getattr(self, name)
            if not np.isfinite(v):
                raise InputError(f"RealRaters.{name} = {v!r} must be a finite number")

    def parts(self, texts: Sequence[str], logprobs: Sequence[float],
              n_tokens: Sequence[int]) -> dict[str, np.ndarray]:
        """The three features of each text: ``sentiment``, ``brevity``, ``typicality``."""
        from rewardshift.metrics.sentiment import vader_compound

        lp = np.asarray(logprobs, dtype=np.float64)
        nt = np.asarray(n_tokens, dtype=np.float64)
        if not (len(texts) == lp.size == nt.size):
            raise InputError(f"RealRaters: {len(texts)} texts, {lp.size} log-probabilities "
                             f"and {nt.size} token counts; they must match")
        if lp.size and (not np.isfinite(lp).all() or (nt < 1).any()):
            raise InputError("RealRaters: log-probabilities must be finite and every text "
                             "must have at least one token")
        return {"sentiment": np.array([vader_compound(t) for t in texts]),
                "brevity": -np.array([word_count(t) for t in texts], dtype=float) / 40.0,
                "typicality": lp / np.maximum(nt, 1.0)}

    def utility(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        """``u = w_s * sentiment + w_b * brevity + alpha * typicality``."""
        return (self.sentiment * parts["sentiment"] + self.brevity * parts["brevity"]
                + self.alpha * parts["typicality"])


def label_pairs(groups: Mapping[str, Sequence[int]], utility: np.ndarray, *, rounds: int,
                seed: int) -> list[tuple[int, int, float]]:
    """Bradley–Terry labelled pairs within each prompt's group of texts.

    ``groups`` maps a prompt to the indices of its texts. Each round shuffles a group and pairs
    neighbours (disjoint pairs), ``rounds`` times. Returns ``(chosen, rejected, p_chosen)``
    index triples, ``p_chosen = sigmoid(u_chosen - u_rejected)`` the probability the panel
    had of making that choice.
    """
    if rounds < 1:
        raise InputError(f"rounds = {rounds} must be >= 1")
    rng = np.random.default_rng(seed)
    out: list[tuple[int, int, float]] = []
    for key in sorted(groups):
        idx = np.asarray(groups[key], dtype=int)
        if idx.size < 2:
            continue
        for _ in range(rounds):
            perm = rng.permutation(idx)
            for a, b in zip(perm[0::2], perm[1::2], strict=False):  # odd one out waits
                p = float(1.0 / (1.0 + np.exp(-(utility[a] - utility[b]))))
                out.append((int(a), int(b), p) if rng.random() < p
                           else (int(b), int(a), 1.0 - p))
    return out


def pair_summary(parts: dict[str, np.ndarray], pairs: Sequence[tuple[int, int, float]]
                 ) -> dict[str, Any]:
    """Mean of each feature on the chosen and the rejected side, and the chosen-wins rate."""
    if not pairs:
        raise InputError("no preference pairs: every prompt needs at least 2 distinct texts")
    c = np.array([p[0] for p in pairs])
    r = np.array([p[1] for p in pairs])
    out: dict[str, Any] = {"n_pairs": len(pairs),
                           "mean_p_chosen": float(np.mean([p[2] for p in pairs]))}
    for name, v in parts.items():
        out[name] = {"chosen": float(v[c].mean()), "rejected": float(v[r].mean()),
                     "chosen_higher": float(np.mean(v[c] > v[r]))}
    return out
