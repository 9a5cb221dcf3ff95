"""Simulated raters on the grammar's texts, and the gold reward they stand for.

The raters are the Bradley-Terry population of :mod:`rewardshift.lab.raters` applied to the
grammar's perceptual features (:data:`rewardshift.lm.grammar.FEATURES`: tidy, typical, positive,
iconic) with the typicality bias ``alpha * log pi_ref(y | x)``, where ``pi_ref`` is the *base
language model* (Zhang et al. 2025, arXiv 2510.01171, eq. 1). Each pair compares two texts of
the same kind, drawn from the grammar, under one of that kind's prompts.

The **gold reward** of a completion is what the raters value apart from their typicality bias:

    gold(y) = sum_k w_k * feature_k(y)   if y is a terminated text of the grammar,
    gold(y) = gold_floor                 otherwise (out of grammar, or never stopped),

with the raters' mean weights ``w`` (Gao, Schulman & Hilton 2022 call this the gold reward
model that the proxy imitates). ``gold_floor`` (default -1) is below every text of the grammar
(features are in [0, 1], weights >= 0), so degenerate text never beats a real one. A text of
the wrong kind for its prompt is out of grammar for that prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.lab.raters import RaterPopulation
from rewardshift.lab.world import WorldSample
from rewardshift.lm.grammar import FEATURES, PROMPTS, TextGrammar
from rewardshift.lm.tokenizer import completion_text

__all__ = ["GoldReward", "TextRaterConfig", "text_preferences"]


@dataclass(frozen=True)
class TextRaterConfig:
    """The raters of the text world."""

    weights: dict[str, float] = field(default_factory=lambda: {
        "tidy": 2.0, "typical": 1.0, "positive": 2.0, "iconic": 2.0}, metadata={
        "help": "mean weight per perceptual feature (features are in [0, 1])"})
    alpha: float = field(default=0.6, metadata={"help": "typicality weight on log pi_ref"})
    weight_sd: float = field(default=0.3, metadata={"help": "rater heterogeneity"})
    noise_scale: float = field(default=1.0, metadata={"help": "Gumbel label-noise scale"})
    gold_floor: float = field(default=-1.0, metadata={
        "help": "gold reward of a completion that is not a finished text of the grammar"})

    def __post_init__(self) -> None:
        unknown = [k for k in self.weights if k not in FEATURES]
        if unknown or not self.weights:
            raise InputError(f"TextRaterConfig.weights has unknown features {unknown}; use some "
                             f"of {FEATURES}")
        if any(w < 0 for w in self.weights.values()):
            raise InputError("TextRaterConfig.weights must be >= 0 so that gold_floor is the "
                             "lowest gold reward")

    def population(self, seed: int) -> RaterPopulation:
        return RaterPopulation(weights=dict(self.weights), weight_sd=self.weight_sd,
                               alpha=self.alpha, noise_scale=self.noise_scale, seed=seed)


class GoldReward:
    """The gold reward of completions (module docstring), with the grammar's parse.

    Call it as ``gold(prompts, texts, terminated)``; :meth:`details` also returns whether each
    completion is in the grammar and its exact ``log P(text | kind)``.
    """

    def __init__(self, grammar: TextGrammar, config: TextRaterConfig) -> None:
        self.grammar, self.config = grammar, config
        self._w = np.array([config.weights.get(f, 0.0) for f in FEATURES])

    def details(self, prompts: Sequence[str], texts: Sequence[str],
                terminated: Sequence[bool] | None = None) -> dict[str, np.ndarray]:
        """``gold``, ``in_grammar`` (bool), ``log_truth`` (``-inf`` out of grammar), ``kind``."""
        if len(prompts) != len(texts) or (terminated is not None and len(terminated) != len(texts)):
            raise InputError("GoldReward: prompts, texts and terminated must have equal lengths")
        n = len(texts)
        gold = np.full(n, self.config.gold_floor)
        ok = np.zeros(n, dtype=bool)
        log_truth = np.full(n, -np.inf)
        kinds = np.array([self.grammar.kind_of_prompt(p) or "" for p in prompts], dtype=object)
        for k in self.grammar.kinds:
            idx = np.flatnonzero(kinds == k)
            if not idx.size:
                continue
            feats = self.grammar.features([texts[i] for i in idx.tolist()])
            good = ~np.isnan(feats).any(axis=1)
            if terminated is not None:
                good &= np.asarray(terminated, dtype=bool)[idx]
            # features() parses against both kinds: keep only texts of the prompt's kind
            for j, i in enumerate(idx.tolist()):
                if good[j]:
                    lp = self.grammar.log_prob(texts[i], kind=k)
                    good[j] = np.isfinite(lp)
                    log_truth[i] = lp
            ok[idx] = good
            gold[idx[good]] = feats[good] @ self._w
        return {"gold": gold, "in_grammar": ok, "log_truth": log_truth, "kind": kinds}

    def __call__(self, prompts: Sequence[str], texts: Sequence[str],
                 terminated: Sequence[bool] | None = None) -> np.ndarray:
        return self.details(prompts, texts, terminated)["gold"]


def text_preferences(grammar: TextGrammar, log_ref, config: TextRaterConfig, *,
                     n_texts: int, n_pairs: int, seed: int) -> list[dict[str, object]]:
    """Preference pairs in TRL's format, judged by the raters.

    Parameters
    ----------
    grammar : TextGrammar
    log_ref : callable ``(prompts, texts) -> ndarray``
        ``log pi_ref(text | prompt)`` under the base model.
    config : TextRaterConfig
    n_texts : int
        Texts drawn from the grammar per kind (pairs are drawn among them).
    n_pairs : int
        Pairs in all, split evenly over the kinds.
    seed : int

    Returns
    -------
    list of dict
        ``{"prompt", "chosen", "rejected"}`` with completions in the tokenizer convention
        (one leading space), plus ``kind``, ``chosen_text``, ``rejected_text``, ``p_chosen``
        (the Bradley-Terry probability of the choice given the judging rater's utilities) and
        ``d_log_ref`` (chosen minus rejected).
    """
    if n_texts < 2 or n_pairs < 1:
        raise InputError(f"text_preferences needs n_texts >= 2 and n_pairs >= 1; got {n_texts}, "
                         f"{n_pairs}")
    raters = config.population(seed)
    rng = np.random.default_rng(seed)
    records: list[dict[str, object]] = []
    kinds = grammar.kinds
    for j, kind in enumerate(kinds):
        texts = [s.text for s in grammar.sample(n_texts, seed=seed + 101 + j, kind=kind)]
        prompts = [PROMPTS[kind][int(i)][1] for i in rng.integers(len(PROMPTS[kind]), size=n_texts)]
        feats = grammar.features(texts)
        ws = WorldSample(world=f"text-{kind}", features={f: feats[:, i] for i, f in
                                                         enumerate(FEATURES)},
                         log_base=np.asarray(log_ref(prompts, texts), dtype=float))
        share = n_pairs // len(kinds) + (1 if j < n_pairs % len(kinds) else 0)
        if share == 0:
            continue
        prefs = raters.preferences(ws, share, seed=seed + 201 + j)
        f = prefs.frame
        p_choice = np.where(f["label"] == 1, f["p_a"], 1 - f["p_a"])
        for c, r, pc, ia in zip(f["i_chosen"], f["i_rejected"], p_choice, f["i_a"], strict=True):
            prompt = prompts[int(ia)]  # the pair is shown under the first text's prompt
            records.append({"prompt": prompt, "chosen": completion_text(texts[int(c)]),
                            "rejected": completion_text(texts[int(r)]), "kind": kind,
                            "chosen_text": texts[int(c)], "rejected_text": texts[int(r)],
                            "p_chosen": float(pc),
                            "d_log_ref": float(ws.log_base[int(c)] - ws.log_base[int(r)])})
    order = np.random.default_rng(seed + 7).permutation(len(records))
    return [records[i] for i in order]
