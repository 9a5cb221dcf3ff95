"""The image world end to end: renders → a pretrained diffusion model → likes → a reward
model → DDPO, Diffusion-DPO and best-of-n → what tuning did, measured from pixels.

Stages, each writing its outputs whole into the work folder so that an interrupted run
continues from the last finished one (:data:`STAGES`):

1. **renders** -- scenes from the physical distribution (:mod:`.scenes`), rendered
   (:mod:`.render`): a training set and held-out truth (``data/renders.npz``).
2. **regressor** -- the CNN that reads latents off pixels (:mod:`.cnn`); its penultimate
   features are the image features of the diversity and fidelity metrics, and its reading of
   generated images gives their physical plausibility under the known density ("gold").
3. **base** -- a diffusers ``UNet2DModel`` pretrained on the renders (:mod:`.diffusion`).
4. **likes** -- base samples, measured; a rater population that likes symmetry, contrast,
   clarity and a centred silhouette (:class:`rewardshift.lab.raters.RaterPopulation`) labels
   Bradley–Terry pairs.
5. **reward model** -- the image reward model fitted to those pairs (:mod:`.reward`).
6. **tuning** -- DDPO at several numbers of iterations and Diffusion-DPO at several β
   (:mod:`.tune`); best-of-n over base samples at several n.
7. **evaluation** -- every policy sampled with the same seeds, measured; proxy, gold,
   diversity, Fréchet distance and recall against the held-out truth; per-axis shift, the
   perceptual-against-physical contrast, edge-case recall and the iconic mean of the reported
   policy against the base (:mod:`.analysis`).

The engine writes only its stages; :func:`rewardshift.jobs.images.images_job` writes the run
directory's config, metrics, samples, report and summary.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.images.analysis import axis_shift, edge_case_recall, iconic_mean, shift_contrast
from rewardshift.images.measures import measure_images
from rewardshift.images.reward import (
    ImageRewardConfig,
    ImageRewardModel,
    fit_image_reward,
    noise_ceiling,
)
from rewardshift.images.scenes import AXES, SceneConfig, Scenes, scene_log_density
from rewardshift.metrics.images import (
    frechet_distance,
    image_diversity,
    mahalanobis_ood,
    pixel_features,
    precision_recall,
)
from rewardshift.progress import Progress, StageClock, no_progress
from rewardshift.samples import atomic_write

__all__ = ["STAGES", "ImagesConfig", "ImagesResult", "run_images"]

STAGES = ("renders", "regressor", "base", "likes", "reward model", "tuning", "evaluation")

#: What the raters like: weights on the perceptual measures (utility per unit).
LIKES = {"symmetry": 4.0, "contrast": 6.0, "clarity": 4.0, "centredness": 3.0}


@dataclass(frozen=True)
class ImagesConfig(Config):
    """Everything ``rewardshift lab run images`` does; defaults sized for 2 CPU cores."""

    seed: int = 0
    size: int = field(default=32, metadata={"help": "image side in pixels (32 or 64)"})
    scenes: SceneConfig = field(default_factory=SceneConfig)
    n_train: int = field(default=4000, metadata={"help": "renders the generator learns from"})
    n_heldout: int = field(default=1000, metadata={"help": "held-out renders: the truth"})
    regressor_epochs: int = 6
    pretrain_steps: int = field(default=1500, metadata={
        "help": "optimizer steps of the UNet's pretraining (batches of 64 renders)"})
    ddpo_batch: int = field(default=32, metadata={"help": "DDPO chains per iteration"})
    dpo_steps: int = field(default=150, metadata={"help": "Diffusion-DPO optimizer steps"})
    n_eval: int = field(default=256, metadata={"help": "samples per policy, same seeds"})
    sample_steps: int = field(default=20, metadata={"help": "DDIM steps per sample"})
    likes: dict[str, float] = field(default_factory=lambda: dict(LIKES))
    rater_noise: float = field(default=0.5, metadata={"help": "Gumbel scale of label noise"})
    n_pairs: int = 3000
    reward: ImageRewardConfig = field(default_factory=ImageRewardConfig)
    ddpo_iterations: tuple[int, ...] = field(default=(2, 4, 8), metadata={
        "help": "DDPO strengths: policy-gradient iterations"})
    dpo_betas: tuple[float, ...] = field(default=(500.0, 2000.0), metadata={
        "help": "Diffusion-DPO strengths beta (larger = closer to the base)"})
    bon_ns: tuple[int, ...] = (1, 2, 4, 8, 16)
    report_policy: str = field(default="", metadata={
        "help": "the tuned policy analysed in depth (default: the strongest DDPO)"})
    n_boot: int = 200

    def __post_init__(self) -> None:
        if self.size not in (32, 64):
            raise InputError(f"size={self.size}: use 32 or 64")
        for name, least in (("n_train", 2), ("n_heldout", 2), ("n_eval", 2), ("n_pairs", 10),
                            ("pretrain_steps", 1), ("regressor_epochs", 1),
                            ("sample_steps", 2)):
            if getattr(self, name) < least:
                raise InputError(f"{name}={getattr(self, name)} must be at least {least}")
        unknown = sorted(set(self.likes) - {a for a, (k, _) in AXES.items()})
        if unknown:
            raise InputError(f"likes weigh unknown measures {unknown}; choose from "
                             f"{sorted(AXES)}")
        if not self.ddpo_iterations and not self.dpo_betas:
            raise InputError("give at least one DDPO strength or one Diffusion-DPO beta")

    @classmethod
    def small(cls, seed: int = 0) -> ImagesConfig:
        """The CI size: minutes on 2 cores, the thesis still visible."""
        return cls(seed=seed, n_train=800, n_heldout=300, regressor_epochs=4,
                   pretrain_steps=150, n_eval=96, sample_steps=8, n_pairs=800,
                   reward=ImageRewardConfig(epochs=4), ddpo_iterations=(2, 4), ddpo_batch=16,
                   dpo_betas=(1000.0,), dpo_steps=30, bon_ns=(1, 4, 16), n_boot=100)

    @classmethod
    def tiny(cls, seed: int = 0) -> ImagesConfig:
        """A smoke size (about a minute): every stage runs, no thesis expected."""
        return cls(seed=seed, n_train=200, n_heldout=100, regressor_epochs=1, pretrain_steps=6,
                   n_eval=24, sample_steps=3, n_pairs=150, reward=ImageRewardConfig(epochs=1),
                   ddpo_iterations=(1,), ddpo_batch=6, dpo_betas=(1000.0,), dpo_steps=2,
                   bon_ns=(1, 4), n_boot=20)

    @property
    def reported(self) -> str:
        if self.report_policy:
            return self.report_policy
        if self.ddpo_iterations:
            return f"ddpo-{max(self.ddpo_iterations)}"
        return f"dpo-{min(self.dpo_betas):g}"


@dataclass(frozen=True)
class ImagesResult:
    """The summary (``summary.json``), one record per policy (``metrics.jsonl``), and the
    samples of every policy (uint8, same seeds, so row ``i`` of each shares its noise)."""

    summary: dict[str, Any]
    records: list[dict[str, Any]]
    samples: dict[str, np.ndarray]
    truth: np.ndarray


# --------------------------------------------------------------------------- helpers

def _save_npz(path: Path, **arrays: Any) -> None:
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


#: Physical axes read by the CNN regressor (the pixel measures of these are too crude, see
#: tests/images/test_cnn.py); perceptual axes are the pixel measures of :mod:`.measures`.
CNN_AXES = ("progress", "asymmetry", "size_exponent", "energy")
PIXEL_AXES = ("symmetry", "contrast", "clarity", "centredness")


def _kinds() -> dict[str, str]:
    return {**dict.fromkeys(CNN_AXES, "physical"), **dict.fromkeys(PIXEL_AXES, "perceptual")}


def _read(x: np.ndarray, pred: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The evaluation's axes of images ``x``: the CNN's readings ``pred`` (physical), pixel
    measures (perceptual)."""
    m = measure_images(x)
    return {**{a: np.asarray(pred[a], float) for a in CNN_AXES},
            **{a: np.asarray(m[a], float) for a in PIXEL_AXES}}


# --------------------------------------------------------------------------- the engine

def run_images(config: ImagesConfig, out: str | os.PathLike[str], *,
               progress: Progress | None = None) -> ImagesResult:
    """Run (or resume) every stage in the folder ``out``; see the module docstring."""
    import torch

    from rewardshift.images import cnn, diffusion, tune
    from rewardshift.images.render import render
    from rewardshift.images.scenes import sample_scenes
    from rewardshift.lab.raters import RaterPopulation
    from rewardshift.lab.world import WorldSample

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tick = progress or no_progress
    clock = StageClock(STAGES, tick, prefix="images", digits=1)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cfg = config

    # 1. renders: the training set and the held-out truth
    data = out / "data" / "renders.npz"
    if data.exists():
        d = _load_npz(data)
        clock.done("renders", reused=True)
    else:
        scenes = sample_scenes(cfg.n_train + cfg.n_heldout, seed=cfg.seed, config=cfg.scenes)
        d = {"images": render(scenes, size=cfg.size),
             **{f"latent_{k}": v for k, v in scenes.as_dict().items()}}
        _save_npz(data, **d)
        clock.done("renders")
    images = d["images"]
    train, truth = images[:cfg.n_train], images[cfg.n_train:]
    latents = {k.removeprefix("latent_"): v for k, v in d.items() if k.startswith("latent_")}
    targets = {k: v[:cfg.n_train] for k, v in latents.items()
               if k in (*CNN_AXES, "impact_angle", "impact_r", "light", "contrast")}

    # 2. the regressor: features, and the reading of latents behind gold
    reg_dir = out / "regressor"
    if (reg_dir / "regressor.json").exists():
        reg = cnn.ImageRegressor.load(reg_dir)
        clock.done("regressor", reused=True)
    else:
        reg = cnn.fit_regressor(train, targets, seed=cfg.seed, epochs=cfg.regressor_epochs)
        reg.save(reg_dir)
        clock.done("regressor")

    # 3. the base generator
    base_dir = out / "base"
    dcfg = diffusion.DiffusionConfig(image_size=cfg.size, train_steps=cfg.pretrain_steps,
                                     sample_steps=cfg.sample_steps, seed=cfg.seed)
    if (base_dir / "unet" / "config.json").exists():
        pre_log = json.loads((base_dir / "pretrain.json").read_text())
        clock.done("base", reused=True)
    else:
        pre = diffusion.pretrain_unet(train, dcfg, base_dir, seed=cfg.seed,
                                      progress=lambda s, a, b: tick(f"base: {s}", a, b))
        pre_log = [{**r, "final_loss": pre.final_loss} for r in pre.log[-1:]]
        (base_dir / "pretrain.json").write_text(json.dumps(pre_log))
        clock.done("base")
    base = diffusion.load_unet(base_dir / "unet")

    def sample(unet: Any, n: int, seed: int) -> np.ndarray:
        x = diffusion.sample_images(unet, n, seed=seed, steps=cfg.sample_steps)
        assert isinstance(x, np.ndarray)  # return_chain=False
        return x

    # 4. likes: raters on the base's own samples
    likes_path = out / "likes.npz"
    if likes_path.exists():
        lk = _load_npz(likes_path)
        clock.done("likes", reused=True)
    else:
        pool = sample(base, max(cfg.n_eval * 2, 200), cfg.seed + 1)
        m = measure_images(pool)
        raters = RaterPopulation(weights=dict(cfg.likes), alpha=0.0,
                                 noise_scale=cfg.rater_noise, seed=cfg.seed)
        ws = WorldSample(world="images", features={k: np.asarray(v, float) for k, v in m.items()},
                         log_base=np.zeros(len(pool)))
        prefs = raters.preferences(ws, cfg.n_pairs, seed=cfg.seed + 2)
        f = prefs.frame
        lk = {"pool": pool, "chosen": f["i_chosen"].to_numpy(),
              "rejected": f["i_rejected"].to_numpy(), "p_a": f["p_a"].to_numpy(),
              "quality": raters.quality(ws)}
        _save_npz(likes_path, **lk)
        clock.done("likes")

    # 5. the reward model
    rm_dir = out / "reward_model"
    if (rm_dir / "reward.json").exists():
        rm = ImageRewardModel.load(rm_dir)
        clock.done("reward model", reused=True)
    else:
        rm = fit_image_reward(lk["pool"], lk["chosen"], lk["rejected"], cfg.reward)
        rm.save(rm_dir)
        clock.done("reward model")
    def proxy(x: np.ndarray) -> np.ndarray:
        return rm.score(x)

    # 6. tuning at several strengths
    tuned_dirs: dict[str, Path] = {}
    logs: dict[str, Any] = {}
    runs = [(f"ddpo-{k}", "ddpo", k) for k in sorted(cfg.ddpo_iterations)] + \
           [(f"dpo-{b:g}", "dpo", b) for b in sorted(cfg.dpo_betas, reverse=True)]
    for i, (name, method, strength) in enumerate(runs):
        d_out = out / "tuned" / name
        tuned_dirs[name] = d_out
        if (d_out / "unet" / "config.json").exists():
            logs[name] = json.loads((d_out / "log.json").read_text())
            continue
        tick_t: Progress = lambda s, a, b, name=name: tick(f"{name}: {s}", a, b)  # noqa: E731
        if method == "ddpo":
            dd = tune.DDPOConfig(iterations=int(strength), batch_size=cfg.ddpo_batch,
                                 steps=cfg.sample_steps)
            model, log = tune.ddpo(base, proxy, dd, seed=cfg.seed, progress=tick_t)
        else:
            pool = lk["pool"]
            dp = tune.DiffusionDPOConfig(steps=cfg.dpo_steps, beta=float(strength))
            model, log = tune.diffusion_dpo(base, diffusion.load_unet(base_dir / "unet"),
                                            pool[lk["chosen"]], pool[lk["rejected"]], dp,
                                            seed=cfg.seed, progress=tick_t)
        model.save_pretrained(d_out / "unet")
        (d_out / "log.json").write_text(json.dumps(log))
        logs[name] = log
        tick("images: tuning", i + 1, len(runs))
    clock.done("tuning")

    # 7. evaluation: every policy with the same seeds
    samples: dict[str, np.ndarray] = {}
    s_path = out / "samples.npz"
    cached = _load_npz(s_path) if s_path.exists() else {}
    policies = ["base", *tuned_dirs]
    for i, name in enumerate(policies):
        tick("images: sampling the policies", i, len(policies) + 1)
        if name in cached:
            samples[name] = cached[name]
            continue
        unet = base if name == "base" else diffusion.load_unet(tuned_dirs[name] / "unet")
        samples[name] = sample(unet, cfg.n_eval, cfg.seed + 100)
        _save_npz(s_path, **samples)
    bon_pool = sample(base, cfg.n_eval * max(cfg.bon_ns), cfg.seed + 200) \
        if "bon_pool" not in cached else cached["bon_pool"]
    _save_npz(s_path, **samples, bon_pool=bon_pool)
    tick("images: sampling the policies", len(policies) + 1, len(policies) + 1)
    bon_scores = proxy(bon_pool)
    for n in cfg.bon_ns:
        groups = bon_pool[:cfg.n_eval * n].reshape(cfg.n_eval, n, *bon_pool.shape[1:])
        best = bon_scores[:cfg.n_eval * n].reshape(cfg.n_eval, n).argmax(axis=1)
        samples[f"bon-{n}"] = groups[np.arange(cfg.n_eval), best]

    tick("images: measuring every policy", 0, 1)
    summary, records = _evaluate(cfg, samples, truth, reg, proxy, latents, logs, lk, rm, pre_log)
    clock.done("evaluation")
    summary["timings"] = clock.times
    return ImagesResult(summary=summary, records=records, samples=samples, truth=truth)


def _gold(pred: Mapping[str, np.ndarray], n: int, latents: Mapping[str, np.ndarray],
          floor: float) -> np.ndarray:
    """Physical plausibility: the known log-density of the latents the regressor read off
    the pixels (``pred``), each clipped into the truth's range (latents it does not read are
    set to their median in the truth); at least ``floor`` (the implausible are not -inf)."""
    fields = {}
    for k, v in latents.items():
        if k in ("radial_cracks", "rings", "fragment_count"):
            continue
        vals = np.asarray(pred[k], float) if k in pred else np.full(n, float(np.median(v)))
        fields[k] = np.clip(vals, float(np.min(v)), float(np.max(v)))
    g = np.asarray(scene_log_density(Scenes(**fields)), dtype=float)
    return np.where(np.isfinite(g), np.maximum(g, floor), floor)


def _outside(truth_f: np.ndarray, truth_px: np.ndarray, feats: np.ndarray, px: np.ndarray,
             seed: int, quantile: float = 0.995) -> np.ndarray:
    """The gold reader knows when it is out of its depth: an image is out of distribution when
    its regressor features *or* its 8x8 pixels lie beyond the held-out renders' ``quantile``
    of Mahalanobis distance (:func:`~rewardshift.metrics.images.mahalanobis_ood`; about 1% of
    renders are flagged). The features miss images the regressor maps onto the renders'
    (noise, a flat colour); the pixels miss images with the renders' colours but not their
    structure; the union catches either."""
    _, out_f, _ = mahalanobis_ood(truth_f, feats, quantile=quantile, seed=seed)
    _, out_p, _ = mahalanobis_ood(truth_px, px, quantile=quantile, seed=seed)
    return np.asarray(out_f | out_p)


def _evaluate(cfg: ImagesConfig, samples: dict[str, np.ndarray], truth: np.ndarray, reg: Any,
              proxy: Any, latents: Mapping[str, np.ndarray], logs: dict[str, Any],
              lk: dict[str, np.ndarray], rm: ImageRewardModel, pre_log: Any
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    t0 = time.perf_counter()
    kinds = _kinds()
    truth_m = _read(truth, reg.predict(truth))
    truth_f = reg.features(truth)
    truth_px = pixel_features(truth)
    truth_latents = {k: v[-len(truth):] for k, v in latents.items()
                     if k not in ("radial_cracks", "rings", "fragment_count")}
    truth_gold = np.asarray(scene_log_density(Scenes(**truth_latents)), dtype=float)
    floor = float(np.min(truth_gold[np.isfinite(truth_gold)])) - 10.0
    records: list[dict[str, Any]] = []
    measures: dict[str, dict[str, np.ndarray]] = {}
    for name, x in samples.items():
        pred = reg.predict(x)
        m = _read(x, pred)
        measures[name] = m
        feats = reg.features(x)
        prec, rec = precision_recall(truth_f, feats, k=3)
        outside = _outside(truth_f, truth_px, feats, pixel_features(x), cfg.seed)
        gold = np.where(outside, floor, _gold(pred, len(x), latents, floor))
        method, _, strength = name.partition("-")
        div = image_diversity(feats)
        px = np.asarray(proxy(x), dtype=float)
        records.append({
            "policy": name, "method": method if name != "base" else "base",
            "strength": float(strength) if strength else 0.0,
            "proxy": float(np.mean(px)), "gold": float(np.mean(gold)),
            "proxy_se": float(np.std(px, ddof=1) / math.sqrt(len(px))),
            "gold_se": float(np.std(gold, ddof=1) / math.sqrt(len(gold))),
            "ood_share": float(np.mean(outside)),
            "frechet": float(frechet_distance(truth_f, feats)), "precision": float(prec),
            "recall": float(rec), **{f"diversity_{k}": float(v) for k, v in div.items()},
            **{f"mean_{a}": float(np.mean(v)) for a, v in m.items()},
        })
    reported = cfg.reported if cfg.reported in samples else next(
        n for n in samples if n != "base")
    base_m, tuned_m = measures["base"], measures[reported]
    cut_asym = float(np.quantile(truth_m["asymmetry"], 0.9))
    cut_sym = float(np.quantile(truth_m["symmetry"], 0.1))
    lo_p, hi_p = np.quantile(truth_m["progress"], [0.3, 0.7])
    regions = {
        "strongly asymmetric (truth's top 10%, CNN reading)":
            lambda m: m["asymmetry"] > cut_asym,
        "transitional (truth's middle 40% of progress, CNN reading)":
            lambda m: (m["progress"] > lo_p) & (m["progress"] < hi_p),
        "least mirror-symmetric (truth's bottom 10%)": lambda m: m["symmetry"] < cut_sym,
    }
    contrast = shift_contrast(base_m, tuned_m, kinds, n_boot=cfg.n_boot, seed=cfg.seed)
    summary: dict[str, Any] = {
        "world": "images", "seed": cfg.seed, "size": cfg.size, "reported": reported,
        "pretrain": {"final_loss": pre_log[-1]["loss"] if pre_log else None},
        "reward_model": {"heldout_accuracy": rm.heldout_accuracy,
                         "noise_ceiling": noise_ceiling(lk["p_a"]),
                         "train_accuracy": rm.train_accuracy},
        "bias_shift": axis_shift(base_m, tuned_m, kinds, n_boot=cfg.n_boot, seed=cfg.seed),
        "bias_contrast": contrast,
        "edge_cases": {
            "base": edge_case_recall(truth_m, base_m, regions, n_boot=cfg.n_boot,
                                     seed=cfg.seed),
            reported: edge_case_recall(truth_m, tuned_m, regions, n_boot=cfg.n_boot,
                                       seed=cfg.seed)},
        "iconic_mean": {"base": iconic_mean(truth_m, base_m, list(kinds)),
                        reported: iconic_mean(truth_m, tuned_m, list(kinds))},
        "policies": {r["policy"]: r for r in records},
        "truth_gold": float(np.mean(np.maximum(truth_gold, floor))),
        "gold_reader": {"floor": floor, "ood_rule": (
            "an image whose regressor features or 8x8 pixels lie beyond the 99.5th percentile "
            "of the held-out renders' Mahalanobis distance (Lee et al. 2018) is out of "
            "distribution: its gold is the floor, not the regressor's reading")},
        "training_logs": logs,
        "verdict": _verdict(contrast, reported,
                            next(r["ood_share"] for r in records if r["policy"] == reported)),
        "evaluation_s": round(time.perf_counter() - t0, 1),
    }
    summary["hacking"] = _hacking(records)
    return summary, records


def _verdict(contrast: Mapping[str, Any], reported: str, ood_share: float = 0.0) -> str:
    c = contrast["contrast"]
    lo, hi = c["ci"]
    if ood_share > 0.5:
        return (f"{reported} left the renders' distribution: {ood_share:.0%} of its images are "
                "out of distribution for the regressor, so its physical readings (and the "
                f"contrast {c['value']:+.2f} [{lo:+.2f}, {hi:+.2f}]) are not measurements; "
                "the tuning hacked the reward model rather than narrowed the scenes.")
    if contrast["holds"]:
        return (f"{reported} narrowed what raters see more than what the scene is: contrast "
                f"{c['value']:+.2f} [{lo:+.2f}, {hi:+.2f}] (mean log variance ratio, perceptual "
                "minus physical).")
    return (f"No perceptual-over-physical narrowing shown for {reported}: contrast "
            f"{c['value']:+.2f} [{lo:+.2f}, {hi:+.2f}].")


def _hacking(records: list[dict[str, Any]], z: float = 2.0) -> dict[str, Any]:
    """Over-optimisation in the sweep: a policy whose proxy rose over the base's while its
    gold fell below the base's, each by more than ``z`` standard errors of the difference
    (the reward model loves what the truth rejects; noise alone is not hacking)."""
    base = next(r for r in records if r["policy"] == "base")

    def beyond(r: Mapping[str, Any], key: str, sign: float) -> bool:
        se = math.hypot(r[f"{key}_se"], base[f"{key}_se"])
        return sign * (r[key] - base[key]) > z * se

    hacked = [r["policy"] for r in records if r["policy"] != "base"
              and beyond(r, "proxy", 1.0) and beyond(r, "gold", -1.0)]
    return {"policies": hacked, "seen": bool(hacked), "rule": f"proxy up and gold down, each "
            f"by more than {z:g} standard errors of the difference from the base"}
