"""Measuring a policy (a checkpoint) of the text world against the proxy, the gold and the truth.

For a policy ``pi`` we sample ``K`` completions of each prompt (seeded) and report one flat row:

* ``proxy`` -- mean proxy-RM reward; ``gold`` -- mean gold reward
  (:class:`~rewardshift.lm.preferences.GoldReward`);
* ``in_grammar`` -- share of completions that are finished texts of the grammar of the prompt's
  kind; ``terminated`` -- share that emitted ``eos``; ``plausibility`` -- mean exact
  ``log P(text | kind)`` over the in-grammar completions;
* ``kl`` -- the Monte-Carlo estimate ``mean_i [log pi(y_i|x_i) - log pi_base(y_i|x_i)]`` of
  ``KL(pi || pi_base)`` per completion (unbiased; can be slightly negative by noise; ``kl_se``
  its standard error), ``sqrt_kl = sqrt(max(kl, 0))``, the x-axis of Gao et al. 2022;
* diversity from :func:`rewardshift.monitor.stats.step_statistics` (per input: within the ``K``
  completions of a prompt; across inputs: the first completion of each prompt), repetition rate
  and mean length;
* ``js_<kind>_<attribute>`` -- Jensen-Shannon divergence (nats) of the attribute histogram of
  the in-grammar completions from the grammar's exact marginal.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardshift.generate.scoring import ids_logprobs
from rewardshift.lm.grammar import PROMPTS, TextGrammar
from rewardshift.lm.preferences import GoldReward
from rewardshift.lm.reward import RewardScorer
from rewardshift.lm.sampling import Completion, sample_completions
from rewardshift.metrics.distribution import js_divergence
from rewardshift.monitor.stats import step_statistics

__all__ = ["ATTRIBUTES", "PolicyEval", "all_prompts", "evaluate_policy"]

#: attributes whose histograms are compared with the truth, per kind
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "review": ("stars", "nationality", "tone", "product"),
    "breakage": ("pattern", "moment", "material", "angle"),
}

_STAT_KEYS = ("within_distinct_2", "within_self_bleu_4", "across_distinct_2",
              "across_self_bleu_4", "within_embedding_diversity", "across_embedding_diversity",
              "repetition_rate", "mean_length")


def all_prompts() -> list[str]:
    """Every prompt of the grammar, kinds in order."""
    return [p for pairs in PROMPTS.values() for _, p in pairs]


@dataclass
class PolicyEval:
    """One policy's measurement: the flat ``row``, the completions and per-sample values."""

    row: dict[str, float]
    completions: list[Completion]
    proxy: np.ndarray
    gold: np.ndarray
    in_grammar: np.ndarray
    log_truth: np.ndarray
    logprob: np.ndarray
    attributes: list[dict[str, str] | None]
    histograms: dict[str, dict[str, dict[str, int]]]


def evaluate_policy(model, tokenizer, *, base_model, scorer: RewardScorer, gold: GoldReward,
                    grammar: TextGrammar, k: int, seed: int, prompts: Sequence[str] | None = None,
                    max_new_tokens: int = 40, embed: bool = False) -> PolicyEval:
    """Sample ``k`` completions per prompt from ``model`` and measure them (module docstring)."""
    prompts = list(prompts or all_prompts())
    comps = sample_completions(model, tokenizer, prompts, k, seed=seed,
                               max_new_tokens=max_new_tokens)
    enc = [c.encoded for c in comps]
    lp = ids_logprobs(model, enc, pad_id=tokenizer.pad_token_id)
    lp_base = lp if base_model is model else ids_logprobs(base_model, enc,
                                                           pad_id=tokenizer.pad_token_id)
    proxy = scorer.score_encoded(enc)
    texts = [c.text for c in comps]
    det = gold.details([c.prompt for c in comps], texts, [c.terminated for c in comps])
    diff = lp - lp_base
    row: dict[str, float] = {
        "proxy": float(proxy.mean()), "gold": float(det["gold"].mean()),
        "in_grammar": float(det["in_grammar"].mean()),
        "terminated": float(np.mean([c.terminated for c in comps])),
        "kl": float(diff.mean()),
        "kl_se": float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0,
        "logprob": float(lp.mean()), "n": float(len(comps)),
    }
    row["sqrt_kl"] = math.sqrt(max(row["kl"], 0.0))
    ok = det["in_grammar"]
    if ok.any():
        row["plausibility"] = float(det["log_truth"][ok].mean())
    stats = step_statistics(texts, group_ids=[c.prompt for c in comps], embed=embed)
    row.update({key: float(stats[key]) for key in _STAT_KEYS if key in stats})
    attrs: list[dict[str, str] | None] = []
    hists: dict[str, dict[str, dict[str, int]]] = {}
    counters: dict[tuple[str, str], Counter] = {}
    for c, good, kind in zip(comps, ok, det["kind"], strict=True):
        parsed = grammar.parse(c.text, kind=kind) if good else None
        attrs.append(parsed.attributes if parsed is not None else None)
        if parsed is not None:
            for a in ATTRIBUTES[kind]:
                counters.setdefault((kind, a), Counter())[parsed.attributes[a]] += 1
    for kind, names in ATTRIBUTES.items():
        for a in names:
            cnt = counters.get((kind, a))
            if not cnt:
                continue
            hists.setdefault(kind, {})[a] = dict(cnt)
            truth = grammar.marginal(kind, a)
            row[f"js_{kind}_{a}"] = float(js_divergence(dict(cnt), truth))
    return PolicyEval(row=row, completions=comps, proxy=proxy, gold=det["gold"],
                      in_grammar=ok, log_truth=det["log_truth"], logprob=lp, attributes=attrs,
                      histograms=hists)
