"""One laboratory run: world → raters → reward model → optimisers → analyses → run directory.

:func:`run_lab` is the pipeline as a function of a :class:`LabConfig`; :func:`lab_job` is the
same as a sweep job (``job(config, run_dir)``), and ``rewardshift lab run`` its command line.
Stages are separate functions (build the pool, fit the reward model, optimise, analyse) so
each can be tested and reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from rewardshift._deprecated import moved
from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.lab.raters import PreferenceData, RaterPopulation, estimate_alpha
from rewardshift.lab.world import World, WorldSample
from rewardshift.lab.worlds import get_world

__all__ = ["LabConfig", "LabResult", "build_reward_model", "run_lab"]

ProgressFn = Callable[[str, int, int], None]

#: Raters' default weights per world: heavy on what the seed text says raters like (symmetry,
#: clarity, the iconic moment), light on ``plausibility`` (the gold reward, which raters see
#: only dimly). A reward model fitted to these raters rises on gold at first and then, pushed
#: harder, trades it for the iconic look: the over-optimisation turn-over.
DEFAULT_WEIGHTS = {
    "shatter": {"symmetry": 3.0, "clarity": 2.0, "iconic_moment": 4.0, "plausibility": 0.5},
}
GOLD_FEATURE = "plausibility"


@dataclass(frozen=True)
class LabConfig(Config):
    """A laboratory run. Defaults finish in well under a minute on 2 cores."""

    world: str = field(default="shatter", metadata={"help": "shatter | personas"})
    world_config: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "fields of the world's config dataclass"})
    n_pool: int = field(default=200_000, metadata={
        "help": "outcomes drawn from the base policy (worlds that enumerate use their support)"})
    rater_weights: dict[str, float] | None = field(default=None, metadata={
        "help": "weight per perceptual axis; default DEFAULT_WEIGHTS or 1 per axis"})
    alpha: float = field(default=0.6, metadata={
        "help": "raters' typicality weight on log π_ref (Zhang et al. 2025: 0.57-0.65)"})
    weight_sd: float = field(default=0.5, metadata={"help": "rater heterogeneity"})
    noise_scale: float = field(default=1.0, metadata={"help": "Bradley-Terry noise scale"})
    rm: str = field(default="linear", metadata={"help": "linear | mlp"})
    rm_pairs: int = field(default=2000, metadata={"help": "preference pairs to fit the RM on"})
    rm_hidden: tuple[int, ...] = field(default=(32, 32), metadata={"help": "MLP capacity"})
    rm_visible: tuple[str, ...] | None = field(default=None, metadata={
        "help": "features the RM sees; default those the raters weigh plus log_ref (their "
                "typicality bias acts through it). Leave one out for a misspecified RM"})
    ensemble: int = field(default=1, metadata={"help": "RM ensemble members (1 = none)"})
    ensemble_agg: str = field(default="mean", metadata={
        "help": "mean | min | mean_minus_std (Coste et al. 2023)"})
    ensemble_lam: float = 1.0
    betas: tuple[float, ...] = field(default=tuple(np.round(np.geomspace(0.05, 20.0, 40), 6)),
                                     metadata={"help": "KL strengths of the tilt sweep"})
    bon_max: int = field(default=1000, metadata={"help": "largest n of best-of-n"})
    report_beta: float = field(default=0.5, metadata={
        "help": "β of the tuned policy shown in the bias-shift analysis and the picture grid"})
    min_ess: float = field(default=200.0, metadata={
        "help": "refuse tilts whose effective sample size falls below this"})
    contrast_boot: int = field(default=200, metadata={
        "help": "bootstrap resamples of the perceptual-vs-physical contrast (0 = none)"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rm not in ("linear", "mlp"):
            raise InputError(f"rm={self.rm!r}; use 'linear' or 'mlp'")
        if self.ensemble < 1:
            raise InputError(f"ensemble={self.ensemble} should be >= 1")
        if self.rm_pairs < 10:
            raise InputError(f"rm_pairs={self.rm_pairs} is too few to fit a reward model; "
                             "use at least 10 (hundreds for a useful one)")
        if any(b <= 0 for b in self.betas) or self.report_beta <= 0:
            raise InputError("every beta must be > 0")
        if self.contrast_boot < 0:
            raise InputError(f"contrast_boot={self.contrast_boot} should be >= 0")

    @property
    def beta_grid(self) -> tuple[float, ...]:
        """``betas`` in increasing order: the KL strengths the tilt sweep visits."""
        return tuple(sorted(float(b) for b in self.betas))


@dataclass
class LabResult:
    """Everything a run found; ``summary`` is its ``summary.json``."""

    summary: dict[str, Any]
    records: list[dict[str, Any]]
    world: World
    pool_sample: WorldSample
    base_weights: np.ndarray
    tuned_weights: np.ndarray
    proxy: np.ndarray
    gold: np.ndarray
    truth_weights: np.ndarray | None


def _rater_weights(cfg: LabConfig, world: World) -> dict[str, float]:
    return dict(cfg.rater_weights or DEFAULT_WEIGHTS.get(cfg.world) or {
        k: 1.0 for k in world.axes_of("perceptual")})


def default_visible(cfg: LabConfig, world: World) -> list[str]:
    """What a well-specified RM sees: every feature the raters weigh and, when they have a
    typicality bias (α > 0), the base log-probability ``log_ref`` through which it acts."""
    names = list(_rater_weights(cfg, world))
    return names + ["log_ref"] if cfg.alpha > 0 else names


def with_gold_feature(world: World, ws: WorldSample) -> WorldSample:
    """``ws`` with the gold reward added as the feature ``plausibility`` (raters may weigh it)."""
    feats = {**ws.features, GOLD_FEATURE: np.asarray(world.gold(ws.features), dtype=float)}
    return WorldSample(world=ws.world, features=feats, log_base=ws.log_base,
                       log_truth=ws.log_truth, enumerated=ws.enumerated,
                       categories=ws.categories)


def _raters(cfg: LabConfig, world: World) -> RaterPopulation:
    weights = _rater_weights(cfg, world)
    return RaterPopulation(weights=dict(weights), alpha=cfg.alpha, weight_sd=cfg.weight_sd,
                           noise_scale=cfg.noise_scale, seed=cfg.seed)


def build_reward_model(cfg: LabConfig):
    """The reward model the config asks for (unfitted)."""
    from rewardshift.lab.reward_model import MLPRM, Aggregation, Ensemble, LinearRM

    def member(seed: int):
        if cfg.rm == "linear":
            return LinearRM(visible_features=cfg.rm_visible, seed=seed)
        return MLPRM(visible_features=cfg.rm_visible, hidden=cfg.rm_hidden, seed=seed)

    if cfg.ensemble == 1:
        return member(cfg.seed)
    return Ensemble([member(cfg.seed + k) for k in range(cfg.ensemble)],
                    aggregation=cast(Aggregation, cfg.ensemble_agg),  # Ensemble checks it
                    lam=cfg.ensemble_lam, seed=cfg.seed)


def _rm_features(ws: WorldSample, names: list[str]) -> dict[str, np.ndarray]:
    feats = {k: np.asarray(ws.features[k], dtype=float) for k in names if k != "log_ref"}
    if "log_ref" in names:
        feats["log_ref"] = ws.log_base
    return feats


def fit_reward_model(cfg: LabConfig, world: World, raters: RaterPopulation
                     ) -> tuple[Any, PreferenceData, list[str]]:
    """Preference pairs on a fresh base sample, and the reward model fitted to them."""
    names = list(cfg.rm_visible or default_visible(cfg, world))
    train = with_gold_feature(world, world.sample(max(5 * cfg.rm_pairs, 2000),
                                                  seed=cfg.seed + 1))
    prefs = raters.preferences(train, cfg.rm_pairs, seed=cfg.seed + 2)
    plain = [k for k in names if k != "log_ref"]
    fa, fb, labels = prefs.pair_features(plain, include_log_ref="log_ref" in names)
    rm = build_reward_model(cfg).fit(fa, fb, labels)
    return rm, prefs, names


def run_lab(cfg: LabConfig, *, progress: ProgressFn | None = None) -> LabResult:
    """Run the whole laboratory pipeline for one configuration."""
    from rewardshift.lab import analysis as an
    from rewardshift.lab import optimize as opt

    tick = progress or (lambda *_: None)
    world = get_world(cfg.world, **cfg.world_config)
    tick("world", 0, 5)
    ws = with_gold_feature(world, world.enumerate() or world.sample(cfg.n_pool, seed=cfg.seed))
    pool = world.to_pool(ws)
    raters = _raters(cfg, world)
    tick("reward model", 1, 5)
    rm, prefs, names = fit_reward_model(cfg, world, raters)
    proxy = np.asarray(rm.score(_rm_features(ws, names)), dtype=float)
    gold = np.asarray(ws.features[GOLD_FEATURE], dtype=float)
    w0 = pool.base_weights
    proxy = proxy - float(w0 @ proxy)  # rewards relative to the base policy
    gold = gold - float(w0 @ gold)
    alpha_hat = estimate_alpha(prefs.frame, seed=cfg.seed)

    tick("optimisers", 2, 5)
    funcs = {"proxy": proxy, "gold": gold}
    sweep = opt.tilt_sweep(pool, proxy, cfg.beta_grid, functions=funcs, min_ess=cfg.min_ess,
                           allow_low_ess=True)
    ns = opt.bon_grid(cfg.bon_max, points=40)
    bon = (opt.best_of_n_sweep(proxy, ns, functions=funcs) if pool.sampled
           else opt.best_of_n_exact_sweep(pool, proxy, ns, functions=funcs))

    tick("analyses", 3, 5)
    ok = ~np.asarray(sweep.low_ess)
    d_tilt = np.sqrt(np.maximum(np.asarray(sweep.kl)[ok], 0.0))
    gold_tilt = np.asarray(sweep.expectations["gold"])[ok]
    d_bon = np.sqrt(np.asarray(bon.kl))
    fit_rl = an.fit_rl(d_tilt, gold_tilt, seed=cfg.seed)
    fit_bon = an.fit_bon(d_bon, np.asarray(bon.expectations["gold"]), seed=cfg.seed)
    tuned = opt.tilt(pool, proxy, beta=cfg.report_beta, min_ess=cfg.min_ess)
    truth = _truth_weights(ws)
    targets = {k: a.iconic for k, a in world.axes.items() if a.iconic is not None}
    numeric = _numeric_axes(world, ws)
    kinds = {a: world.axes[a].kind for a in numeric}
    shift = [{**r, "kind": kinds[str(r["axis"])]} for r in an.bias_shift(
        pool, tuned, numeric, truth_weights=truth, target=targets or None)]
    contrast = an.bias_contrast(pool, tuned, kinds, targets={a: t for a, t in targets.items()
                                                             if a in kinds},
                                n_boot=cfg.contrast_boot, seed=cfg.seed)
    edges = an.edge_cases(pool, tuned, truth_weights=truth)

    diversity = outcome_diversity(ws, _numeric_axes(world, ws), {"base": w0, "tuned": tuned},
                                  seed=cfg.seed)

    records = [{"optimizer": "tilt", **r} for r in sweep.to_records()]
    records += [{"optimizer": "best_of_n", **r} for r in bon.to_records()]
    summary = {
        "world": cfg.world, "n_outcomes": len(ws), "enumerated": not pool.sampled,
        "reward_model": {"kind": cfg.rm, "ensemble": cfg.ensemble, "features": names,
                         "heldout_accuracy": float(rm.heldout_accuracy)},
        "alpha": {"true": cfg.alpha, "estimate": alpha_hat.value,
                  "ci": [alpha_hat.ci_low, alpha_hat.ci_high]},
        "overoptimization": {"tilt": fit_rl.to_dict(), "best_of_n": fit_bon.to_dict(),
                             "gold_peak_tilt": _peak(d_tilt, gold_tilt),
                             "gold_peak_bon": _peak(d_bon, bon.expectations["gold"])},
        "report_beta": cfg.report_beta,
        "bias_shift": shift,
        "bias_contrast": contrast,
        "edge_cases": edges,
        "diversity": diversity,
        "config": cfg.to_dict(),
    }
    tick("done", 5, 5)
    return LabResult(summary, records, world, ws, w0, tuned, proxy, gold, truth)


def outcome_diversity(ws: WorldSample, axes: list[str], policies: dict[str, np.ndarray], *,
                      n: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Diversity of each policy's outcomes, with the metrics of :mod:`rewardshift.metrics`.

    Draws ``n`` outcomes from each policy (seeded), standardises the numeric axes by the base
    pool's mean and spread, and reports the Vendi score (q = 1; Friedman & Dieng 2023) and the
    embedding diversity (1 − mean cosine) of those vectors, plus the share of distinct
    outcomes drawn.
    """
    from rewardshift.metrics.semantic import embedding_diversity, vendi_score

    x = np.column_stack([np.asarray(ws.features[a], dtype=float) for a in axes])
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    rng = np.random.default_rng(seed)
    out = {}
    for name, w in policies.items():
        idx = rng.choice(len(x), size=n, replace=True, p=w / w.sum())
        v = x[idx]
        out[name] = {"vendi_q1": vendi_score(v, q=1.0), "embedding_diversity":
                     embedding_diversity(v), "distinct_share": len(np.unique(idx)) / n}
    return out


def _numeric_axes(world: World, ws: WorldSample) -> list[str]:
    return [k for k in world.axes if k in ws.features and k not in ws.categories
            and np.issubdtype(np.asarray(ws.features[k]).dtype, np.number)]


def _truth_weights(ws: WorldSample) -> np.ndarray | None:
    """The ground-truth distribution over the pool's outcomes.

    Enumerated support: the true probabilities. Pool drawn from the base policy: importance
    weights π_truth / π_base, normalised (the constants of both densities cancel).
    """
    if ws.log_truth is None:
        return None
    lw = ws.log_truth if ws.enumerated else ws.log_truth - ws.log_base
    w = np.exp(lw - lw.max())
    return w / w.sum()


def _peak(d: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    g = np.asarray(gold)
    i = int(np.argmax(g))
    return {"d": float(np.asarray(d)[i]), "gold": float(g[i]),
            "turns_down": bool(g[-1] < g[i] - 1e-9 and i < len(g) - 1)}


__getattr__ = moved(__name__, {"lab_job": "rewardshift.jobs.lab"})
