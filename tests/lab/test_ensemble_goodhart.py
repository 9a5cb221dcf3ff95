"""Coste et al. 2023: reward-model ensembles delay or remove over-optimisation.

Members share the signal (gold) but make independent heavy-tailed errors, as reward models
trained on different data do. Optimising one member, best-of-n finds its errors and gold
turns down; the worst case (min) or mean − λ·std over members discounts outcomes that only
one member likes, and gold keeps rising much longer.
"""

from __future__ import annotations

import numpy as np

from rewardshift.lab import optimize as opt
from rewardshift.lab.reward_model import aggregate_scores


def _gold_curve(proxy: np.ndarray, gold: np.ndarray) -> np.ndarray:
    ns = opt.bon_grid(5000, points=40)
    return opt.best_of_n_sweep(proxy, ns, functions={"gold": gold}).expectations["gold"]


def test_ensembles_delay_the_decline():
    rng = np.random.default_rng(0)
    n, k = 200_000, 5
    gold = rng.standard_normal(n)
    members = gold + 0.6 * rng.standard_t(df=2, size=(k, n))  # independent heavy tails
    single = _gold_curve(members[0], gold)
    assert single.max() - single[-1] > 0.3  # one RM: gold rises then falls (Goodhart)
    for agg in ("min", "mean_minus_std"):
        ens = _gold_curve(aggregate_scores(members, agg, lam=1.0), gold)
        assert ens[-1] > single[-1] + 0.5  # far more gold at the strongest optimisation
        assert ens.max() - ens[-1] < (single.max() - single[-1]) / 2  # decline at least halved
