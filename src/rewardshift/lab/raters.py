"""Simulated raters: Bradley-Terry preferences, forum "likes", and the recovery of alpha.

A rater population scores an outcome ``x`` with the utility

    u_r(x) = sum_k w_rk * feature_k(x) + alpha * log pi_ref(x) + eps,   eps ~ Gumbel(0, s)

where ``w_r ~ N(w, weight_sd^2)`` are rater ``r``'s weights on the *perceptual* features
(heterogeneous raters), ``alpha`` the typicality bias of Verbalized Sampling (Zhang et al.
2025, arXiv 2510.01171, eq. 1: ``r(x, y) = r_true(x, y) + alpha log pi_ref(y | x)``) and ``s``
the label-noise scale. The difference of two independent Gumbel(0, s) variables is
logistic(0, s), so a rater prefers ``a`` over ``b`` with the Bradley-Terry probability
``sigma((u_r(a) - u_r(b)) / s)`` (Bradley & Terry 1952; McFadden 1974 for the Gumbel
random-utility derivation).

"Likes" (the seed text's forum reactions) are the same utilities against an outside option:
a viewer likes ``x`` with probability ``sigma((u_r(x) - c) / s)``, ``c`` a quantile of the
utilities, so likes are rare and go to what raters prefer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.lab.world import World, WorldSample, check_n
from rewardshift.metrics.stats import bootstrap_ci

__all__ = ["AlphaEstimate", "PreferenceData", "RaterPopulation", "estimate_alpha"]


@dataclass(frozen=True)
class RaterPopulation:
    """A population of Bradley-Terry raters (see the module docstring for the utility).

    Examples
    --------
    >>> from rewardshift.lab.worlds import get_world
    >>> world = get_world("shatter")
    >>> raters = RaterPopulation.for_world(world, alpha=0.6)
    >>> prefs = raters.preferences(world.sample(500, seed=0), 100, seed=1)
    >>> sorted(prefs.records[0])
    ['chosen', 'prompt', 'rejected']
    """

    weights: dict[str, float] = field(default_factory=dict, metadata={
        "help": "mean weight w_k per perceptual feature (utility units per feature unit)"})
    weight_sd: float = field(default=0.0, metadata={
        "help": "sd of each rater's weights around the mean (rater heterogeneity)"})
    alpha: float = field(default=0.6, metadata={
        "help": "typicality weight on log pi_ref; ~0.57-0.65 on real data (Zhang et al. 2025)"})
    noise_scale: float = field(default=1.0, metadata={
        "help": "Gumbel scale s of the label noise; P(a > b) = sigma(du / s)"})
    n_raters: int = field(default=100, metadata={"help": "number of distinct raters"})
    seed: int = field(default=0, metadata={"help": "seed of the raters' weights"})
    like_quantile: float = field(default=0.9, metadata={
        "help": "likes: the outside option's utility is this quantile of outcome utilities"})

    def __post_init__(self) -> None:
        if not self.weights:
            raise InputError("RaterPopulation needs weights on at least one feature, e.g. "
                             "weights={'symmetry': 1.0}; RaterPopulation.for_world(world) puts "
                             "weight 1 on every perceptual axis")
        if self.weight_sd < 0:
            raise InputError(f"weight_sd={self.weight_sd!r} must be >= 0")
        if not self.noise_scale > 0:
            raise InputError(f"noise_scale={self.noise_scale!r} must be > 0 (Gumbel scale)")
        if self.n_raters < 1:
            raise InputError(f"n_raters={self.n_raters!r} must be >= 1")
        if not 0 < self.like_quantile < 1:
            raise InputError(f"like_quantile={self.like_quantile!r} must be in (0, 1)")

    @classmethod
    def for_world(cls, world: World, *, weight: float = 1.0, **config: Any) -> RaterPopulation:
        """Raters with weight ``weight`` on every perceptual axis of ``world``."""
        weights = {k: weight for k in world.axes_of("perceptual")}
        return cls(weights=dict(config.pop("weights", weights)), **config)

    # -- utilities ----------------------------------------------------------------------
    @cached_property
    def rater_weights(self) -> np.ndarray:
        """Each rater's weights, shape (n_raters, K), in the order of ``weights``."""
        rng = np.random.default_rng(self.seed)
        w = np.array(list(self.weights.values()), dtype=float)
        return w + self.weight_sd * rng.standard_normal((self.n_raters, len(w)))

    def _matrix(self, ws: WorldSample) -> np.ndarray:
        missing = [k for k in self.weights if k not in ws.features]
        if missing:
            raise InputError(f"raters weigh features {missing} that world '{ws.world}' does not "
                             f"have; its features are {sorted(ws.features)}")
        return np.column_stack([np.asarray(ws.features[k], dtype=float) for k in self.weights])

    def quality(self, ws: WorldSample) -> np.ndarray:
        """Mean raters' perceptual score ``sum_k w_k feature_k`` of each outcome, (N,)."""
        return self._matrix(ws) @ np.array(list(self.weights.values()), dtype=float)

    def utility(self, ws: WorldSample) -> np.ndarray:
        """Mean utility ``quality + alpha log pi_ref`` of each outcome (no noise), (N,)."""
        return self.quality(ws) + self.alpha * ws.log_base

    # -- preferences --------------------------------------------------------------------
    def preferences(self, ws: WorldSample, n_pairs: int, *, seed: int,
                    prompt: str | None = None) -> PreferenceData:
        """Draw ``n_pairs`` Bradley-Terry comparisons of outcomes of ``ws``.

        Both outcomes of a pair come from the base policy: uniformly from the rows of a sampled
        ``ws``, by base probability from an enumerated one; a pair never compares an outcome
        with itself. Each pair is judged by one rater drawn uniformly from the population.

        Parameters
        ----------
        ws : WorldSample
            Outcomes to compare (at least 2).
        n_pairs : int
            Number of comparisons.
        seed : int
            Seed of the pairs, raters and label noise.
        prompt : str, optional
            The prompt of the TRL records; defaults to one naming the world.

        Returns
        -------
        PreferenceData
            ``.records`` in TRL's format, ``.frame`` with indices and differences.
        """
        n_pairs = check_n(n_pairs, "n_pairs")
        if len(ws) < 2:
            raise InputError(f"preferences need at least 2 outcomes to compare; got {len(ws)}")
        rng = np.random.default_rng(seed)
        p = ws.base_prob if ws.enumerated else None
        a = rng.choice(len(ws), size=n_pairs, p=p)
        b = rng.choice(len(ws), size=n_pairs, p=p)
        while (same := a == b).any():
            b[same] = rng.choice(len(ws), size=int(same.sum()), p=p)
        rater = rng.integers(self.n_raters, size=n_pairs)
        x = self._matrix(ws)
        w = self.rater_weights[rater]  # (n_pairs, K)
        typ = self.alpha * ws.log_base
        du = np.einsum("pk,pk->p", w, x[a] - x[b]) + typ[a] - typ[b]
        g = rng.gumbel(0.0, self.noise_scale, size=(2, n_pairs))
        label = (du + g[0] - g[1] > 0).astype(np.int64)
        frame = pd.DataFrame({
            "i_a": a, "i_b": b, "label": label,
            "i_chosen": np.where(label == 1, a, b), "i_rejected": np.where(label == 1, b, a),
            "rater": rater, "d_utility": du, "p_a": expit(du / self.noise_scale),
            "d_log_ref": ws.log_base[a] - ws.log_base[b],
            "d_quality": (x[a] - x[b]) @ np.array(list(self.weights.values()), dtype=float),
        })
        frame.attrs.update(noise_scale=self.noise_scale, alpha=self.alpha)
        return PreferenceData(frame=frame, sample=ws,
                              prompt=prompt or f"Show one outcome of the '{ws.world}' world.")

    # -- likes ---------------------------------------------------------------------------
    def like_probability(self, ws: WorldSample) -> np.ndarray:
        """Probability that a random viewer likes each outcome, (N,), averaged over raters."""
        x = self._matrix(ws)
        typ = self.alpha * ws.log_base
        c = np.quantile(self.utility(ws), self.like_quantile)
        w = self.rater_weights if self.weight_sd > 0 else self.rater_weights[:1]
        prob = np.zeros(len(ws))
        for wr in w:  # one (N,) pass per rater: memory O(N)
            prob += expit((x @ wr + typ - c) / self.noise_scale)
        return prob / len(w)

    def likes(self, ws: WorldSample, *, n_viewers: int, seed: int) -> np.ndarray:
        """Like counts per outcome when each is shown to ``n_viewers`` viewers, (N,) int."""
        n_viewers = check_n(n_viewers, "n_viewers")
        rng = np.random.default_rng(seed)
        return rng.binomial(n_viewers, self.like_probability(ws))


@dataclass(frozen=True)
class PreferenceData:
    """Preference pairs over the outcomes of a world sample.

    Attributes
    ----------
    frame : DataFrame
        One row per pair: ``i_a, i_b`` (outcome indices as presented), ``label`` (1 when
        ``a`` was chosen), ``i_chosen, i_rejected``, ``rater``, ``d_utility`` (mean-free
        utility difference a - b of the judging rater, before noise), ``p_a`` (its
        Bradley-Terry probability), ``d_log_ref`` and ``d_quality`` (a - b, with the mean
        weights). ``frame.attrs`` holds ``noise_scale`` and ``alpha``.
    sample : WorldSample
        The outcomes the indices refer to.
    prompt : str
        The prompt of every TRL record.
    """

    frame: pd.DataFrame
    sample: WorldSample
    prompt: str

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def records(self) -> list[dict[str, str]]:
        """TRL's preference format: ``[{"prompt", "chosen", "rejected"}, ...]``."""
        texts: dict[int, str] = {}

        def text(i: int) -> str:
            if i not in texts:
                texts[i] = self.sample.describe(i)
            return texts[i]

        return [{"prompt": self.prompt, "chosen": text(int(c)), "rejected": text(int(r))}
                for c, r in zip(self.frame["i_chosen"], self.frame["i_rejected"],
                                    strict=True)]

    def pair_features(self, names: Sequence[str] | None = None, *, include_log_ref: bool = False
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        """Features of the two sides and the labels, for fitting a reward model.

        Parameters
        ----------
        names : sequence of str, optional
            Features to return (default: all of the sample's features).
        include_log_ref : bool, default False
            Also return ``log_ref`` (the base log-probability) as a feature.

        Returns
        -------
        features_a, features_b : dict of str to ndarray (n_pairs,)
        labels : ndarray (n_pairs,) of {0, 1}, 1 when ``a`` was preferred.
        """
        feats: Mapping[str, np.ndarray] = self.sample.features
        names = list(feats) if names is None else list(names)
        missing = [k for k in names if k not in feats]
        if missing:
            raise InputError(f"pair_features: unknown features {missing}; "
                             f"the sample has {sorted(feats)}")
        a, b = self.frame["i_a"].to_numpy(), self.frame["i_b"].to_numpy()
        fa = {k: np.asarray(feats[k], dtype=float)[a] for k in names}
        fb = {k: np.asarray(feats[k], dtype=float)[b] for k in names}
        if include_log_ref:
            fa["log_ref"], fb["log_ref"] = self.sample.log_base[a], self.sample.log_base[b]
        return fa, fb, self.frame["label"].to_numpy()


@dataclass(frozen=True)
class AlphaEstimate:
    """An estimate of the typicality weight alpha with its confidence interval."""

    value: float
    ci_low: float
    ci_high: float
    n_pairs: int
    method: str = "bootstrap"


def _logistic_no_intercept(x: np.ndarray, y: np.ndarray, *, max_iter: int = 50) -> np.ndarray:
    """Maximum-likelihood logistic regression without intercept (Newton-Raphson)."""
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        p = expit(x @ beta)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, x.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def estimate_alpha(pairs_frame: pd.DataFrame, *, seed: int, noise_scale: float | None = None,
                   quality_quantile: float = 0.25, method: str = "bootstrap",
                   n_boot: int = 200, level: float = 0.95) -> AlphaEstimate:
    """Recover the typicality weight alpha from preference pairs (Verbalized Sampling, sec. 3).

    Among pairs of (near-)equal true quality, the preference depends on the base
    log-probability alone: ``P(a > b) = sigma((alpha d_log_ref + d_quality) / s)``. The pairs
    with ``|d_quality|`` below its ``quality_quantile`` are kept, and a logistic regression
    without intercept of ``label`` on ``[d_log_ref, d_quality]`` (the residual quality
    difference held fixed as a covariate) gives the coefficient ``c`` of ``d_log_ref``;
    ``alpha = c * s``.

    Parameters
    ----------
    pairs_frame : DataFrame
        Columns ``label`` (1 when ``a`` won), ``d_log_ref``, ``d_quality``
        (``PreferenceData.frame``).
    seed : int
        Seed of the bootstrap.
    noise_scale : float, optional
        The label-noise scale ``s``; default ``pairs_frame.attrs["noise_scale"]``, else 1
        (the Bradley-Terry unit, as in Zhang et al. 2025).
    quality_quantile : float, default 0.25
        Fraction of pairs (closest in quality) to use; 1 uses all with the covariate.
    method : {"bootstrap", "fisher"}
        Confidence interval from a percentile bootstrap over pairs, or from the inverse
        Fisher information (Wald).
    n_boot : int, default 200
    level : float, default 0.95

    Returns
    -------
    AlphaEstimate
        ``value`` with ``[ci_low, ci_high]`` and the number of pairs used.

    Notes
    -----
    Zhang et al. 2025 (arXiv 2510.01171) fit this on HelpSteer pairs with identical
    correctness ratings and report alpha ~ 0.57-0.65. Heterogeneous raters (``weight_sd > 0``)
    add utility noise ``(w_r - w) . d_feature`` that equal *mean* quality does not remove, so
    alpha is attenuated toward 0 (about 6% at ``weight_sd = 0.5`` in the shatter world).
    """
    need = {"label", "d_log_ref", "d_quality"}
    if not need <= set(pairs_frame.columns):
        raise InputError(f"estimate_alpha needs columns {sorted(need)}; got "
                         f"{sorted(pairs_frame.columns)} (pass PreferenceData.frame)")
    if method not in ("bootstrap", "fisher"):
        raise InputError(f"method={method!r} must be 'bootstrap' or 'fisher'")
    if not 0 < quality_quantile <= 1:
        raise InputError(f"quality_quantile={quality_quantile!r} must be in (0, 1]")
    s = float(noise_scale if noise_scale is not None
              else pairs_frame.attrs.get("noise_scale", 1.0))
    dq = pairs_frame["d_quality"].to_numpy(dtype=float)
    keep = np.abs(dq) <= np.quantile(np.abs(dq), quality_quantile)
    x = np.column_stack([pairs_frame["d_log_ref"].to_numpy(dtype=float)[keep], dq[keep]])
    y = pairs_frame["label"].to_numpy(dtype=float)[keep]
    if len(y) < 50 or np.std(x[:, 0]) == 0:
        raise MetricUndefinedError(f"estimate_alpha needs >= 50 equal-quality pairs with varying "
                                   f"d_log_ref; got {len(y)}. Draw more pairs or raise "
                                   f"quality_quantile={quality_quantile}")
    coef = _logistic_no_intercept(x, y)
    z = float(norm.ppf(0.5 + level / 2))
    if method == "fisher":
        p = expit(x @ coef)
        cov = np.linalg.inv((x * (p * (1 - p))[:, None]).T @ x)
        half = z * np.sqrt(cov[0, 0])
        lo, hi = coef[0] - half, coef[0] + half
    else:  # idx: (n_boot, n) resampled pairs
        lo, hi = bootstrap_ci(lambda idx: [_logistic_no_intercept(x[i], y[i])[0] for i in idx],
                              len(y), n_resamples=n_boot, confidence=level, seed=seed)
    return AlphaEstimate(value=float(coef[0] * s), ci_low=float(lo * s), ci_high=float(hi * s),
                         n_pairs=int(len(y)), method=method)
