"""Tuning the generator on a reward: DDPO, Diffusion-DPO, and best-of-n as the baseline.

* :func:`ddpo` -- DDPO-IS (Black et al. 2023, "Training Diffusion Models with Reinforcement
  Learning", arXiv 2305.13301, sec. 4.3): the DDIM chain with ``eta > 0`` is an MDP whose
  actions ``x_{t-1} ~ N(mu_theta(x_t, t), sigma_t^2 I)`` have exact log-densities; a batch of
  chains is sampled, scored once at the end, and the policy takes PPO-style clipped
  importance-weighted steps on every timestep, with an optional KL penalty to the base
  model's per-step Gaussians.
* :func:`diffusion_dpo` -- Diffusion-DPO (Wallace et al. 2023, "Diffusion Model Alignment
  Using Direct Preference Optimization", arXiv 2311.12908, eq. 14) on winner/loser pairs.
* :func:`best_of_n` -- the no-training baseline on a pool of samples, with the exact
  expectation of best-of-n over the pool (order statistics,
  :func:`rewardshift.lab.optimize.best_of_n_weights`).

Both trainers copy the model they are given (the base is never changed) and return
``Tuned(unet, log)``, ``log`` being one dict per iteration / step.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.images.diffusion import (
    Chain,
    _check_sampling,
    _import,
    _model_device,
    ddim_scheduler,
    ddim_step_gaussian,
    gaussian_log_prob,
    images_to_tensor,
    sample_images,
    train_scheduler,
)
from rewardshift.lab.optimize import best_of_n_weights
from rewardshift.metrics.images import check_images
from rewardshift.progress import Progress, no_progress

if TYPE_CHECKING:
    import torch
    from diffusers import UNet2DModel


__all__ = [
    "BestOfN",
    "DDPOConfig",
    "DiffusionDPOConfig",
    "Tuned",
    "best_of_n",
    "ddpo",
    "diffusion_dpo",
    "dpo_preference_stats",
]

RewardFn = Callable[[np.ndarray], np.ndarray]


class Tuned(NamedTuple):
    """A tuned copy of the model and its training log (one dict per iteration or step)."""

    unet: Any
    log: list[dict[str, float]]


@dataclass(frozen=True)
class DDPOConfig(Config):
    """DDPO-IS settings; ``clip_range``, ``adv_clip_max`` and ``eta`` as in Black et al. 2023.

    With the defaults each iteration takes one on-policy step (``train_batch_size =
    batch_size``, one inner epoch: the ratio is 1 and nothing is clipped), which moved the
    reward most per second on 2 cores; smaller minibatches or more inner epochs reuse the
    samples off-policy, and then ``clip_range`` binds.
    """

    _label = "ddpo config"

    iterations: int = field(default=20, metadata={"help": "sample-then-train rounds"})
    batch_size: int = field(default=32, metadata={"help": "chains sampled per iteration"})
    train_batch_size: int = field(default=32, metadata={"help": "chains per optimizer step"})
    inner_epochs: int = field(default=1, metadata={"help": "passes over each sampled batch"})
    steps: int = field(default=20, metadata={"help": "DDIM steps of each chain"})
    eta: float = field(default=1.0, metadata={"help": "DDIM eta; > 0 (each step a Gaussian)"})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = 0.0
    clip_range: float = field(default=1e-4, metadata={
        "help": "PPO clip of the per-pixel importance ratio (DDPO's 1e-4)"})
    adv_clip_max: float = field(default=5.0, metadata={"help": "clip of the advantages"})
    kl_coef: float = field(default=0.0, metadata={
        "help": "weight of the per-pixel KL to the base model's step Gaussians (0: none)"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient-norm clip"})

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "train_batch_size", "inner_epochs", "steps"):
            if getattr(self, name) < 1:
                raise InputError(f"DDPOConfig.{name}={getattr(self, name)} must be >= 1")
        if self.batch_size < 2:
            raise InputError(f"DDPOConfig.batch_size={self.batch_size} must be >= 2 (the "
                             "advantages are normalised within the batch)")
        if self.eta <= 0:
            raise InputError(f"DDPOConfig.eta={self.eta} must be > 0: with eta = 0 the chain is "
                             "deterministic and has no log-probabilities to weigh")
        if self.learning_rate <= 0 or self.clip_range <= 0 or self.adv_clip_max <= 0:
            raise InputError("DDPOConfig: learning_rate, clip_range and adv_clip_max must be > 0")
        if self.kl_coef < 0 or self.max_grad_norm <= 0:
            raise InputError("DDPOConfig: kl_coef must be >= 0 and max_grad_norm > 0")


@dataclass(frozen=True)
class DiffusionDPOConfig(Config):
    """Diffusion-DPO settings (Wallace et al. 2023)."""

    _label = "diffusion-dpo config"

    steps: int = field(default=200, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=16, metadata={"help": "preference pairs per step"})
    beta: float = field(default=5000.0, metadata={
        "help": "beta_dpo: inverse temperature of the implicit reward (Wallace et al.: 5000 "
                "for SD 1.5, 2500 for SDXL); larger stays closer to the reference"})
    learning_rate: float = field(default=1e-4, metadata={
        "help": "AdamW learning rate (1e-4 suits the small pixel UNets here)"})
    weight_decay: float = 0.0
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient-norm clip"})

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise InputError("DiffusionDPOConfig: steps and batch_size must be >= 1")
        if self.beta <= 0 or self.learning_rate <= 0 or self.max_grad_norm <= 0:
            raise InputError("DiffusionDPOConfig: beta, learning_rate and max_grad_norm must "
                             "be > 0")


def _frozen_copy(unet: UNet2DModel) -> UNet2DModel:
    ref = copy.deepcopy(unet).eval()
    ref.requires_grad_(False)
    return ref


def _sub_seed(seed: int, *keys: int) -> int:
    """An int seed for the ``keys``-th stream under ``seed`` (numpy SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), *keys]).generate_state(1, np.uint32)[0])


# --------------------------------------------------------------------------- DDPO


def _advantages(rewards: np.ndarray, clip: float) -> np.ndarray:
    """``(r - mean) / (std + 1e-8)`` over the batch, clipped to ``[-clip, clip]``."""
    a = (rewards - rewards.mean()) / (rewards.std() + 1e-8)
    return np.clip(a, -clip, clip)


def _rewards(reward_fn: RewardFn, images: np.ndarray) -> np.ndarray:
    r = np.asarray(reward_fn(images), dtype=np.float64).reshape(-1)
    if len(r) != len(images) or not np.all(np.isfinite(r)):
        raise InputError(f"reward_fn must return one finite number per image: got {len(r)} "
                         f"values ({int(np.sum(~np.isfinite(r)))} not finite) for "
                         f"{len(images)} images")
    return r


def ddpo(unet: UNet2DModel, reward_fn: RewardFn, config: DDPOConfig, *, seed: int,
         progress: Progress | None = None) -> Tuned:
    """Tune a copy of ``unet`` to raise ``reward_fn`` by DDPO-IS (Black et al. 2023).

    Parameters
    ----------
    unet : UNet2DModel
        The base model; it is copied, never changed.
    reward_fn : callable
        ``reward_fn(uint8 (N, H, W, 3)) -> (N,)`` floats, higher is better.
    config : DDPOConfig
    seed : int
        Seeds the chains of every iteration and the minibatch order.
    progress : optional ``progress("ddpo: iteration", done, total)``

    Returns
    -------
    Tuned
        ``unet`` the tuned copy (eval mode); ``log`` one dict per iteration: ``reward_mean``,
        ``reward_std`` (of the iteration's samples, before its update), ``approx_kl``
        (``0.5 E[(log p_new - log p_old)^2]`` per pixel, the PPO diagnostic), ``clip_frac``
        (share of ratios outside the clip range), ``kl_to_base`` (the path KL of the
        sampling chain to the base, summed over pixels and steps) and ``loss``.

    Notes
    -----
    Per iteration: sample ``batch_size`` chains with the current policy (``x_T -> x_0``,
    ``steps`` DDIM steps at ``eta``), score ``x_0``, normalise the rewards to advantages
    ``A`` over the batch (clipped to ``adv_clip_max``). Then for each minibatch and each
    timestep ``t``, with ``rho = exp(l_theta - l_old)`` where ``l`` is the step's Gaussian
    log-density *averaged over pixels* (as DDPO does; hence the small ``clip_range``), the
    loss is ``max(-A rho, -A clip(rho, 1 - eps, 1 + eps))`` plus
    ``kl_coef * ||mu_theta - mu_base||^2 / (2 sigma_t^2 D)`` (the KL between the two step
    Gaussians, per pixel); gradients are accumulated over the timesteps (averaged) and one
    AdamW step is taken per minibatch. ``kl_to_base`` sums the same per-step KLs over pixels
    and steps: by the chain rule this is the KL of the whole sampling path to the base's,
    evaluated on the sampled chains.
    """
    torch, _ = _import()
    _check_sampling(unet, config.batch_size, config.steps, config.eta, config.batch_size)
    report = progress or no_progress
    base = _frozen_copy(unet)
    policy = copy.deepcopy(unet).train()
    policy.requires_grad_(True)
    opt = torch.optim.AdamW(policy.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)
    sched = ddim_scheduler(unet)
    sched.set_timesteps(config.steps)
    gen = torch.Generator().manual_seed(_sub_seed(seed, 1))
    log: list[dict[str, float]] = []
    for it in range(config.iterations):
        chain = sample_images(policy, config.batch_size, seed=_sub_seed(seed, 0, it),
                              steps=config.steps, eta=config.eta, scheduler=sched,
                              batch_size=config.batch_size, return_chain=True)
        assert isinstance(chain, Chain)  # return_chain=True
        rewards = _rewards(reward_fn, chain.images)
        adv = torch.as_tensor(_advantages(rewards, config.adv_clip_max), dtype=torch.float32)
        stats = _ddpo_update(policy, base, opt, sched, chain, adv, config, gen)
        log.append({"iteration": it + 1, "reward_mean": float(rewards.mean()),
                    "reward_std": float(rewards.std()), **stats})
        report("ddpo: iteration", it + 1, config.iterations)
    return Tuned(policy.eval(), log)


def _ddpo_update(policy: UNet2DModel, base: UNet2DModel, opt: Any, sched: Any, chain: Chain,
                 adv: torch.Tensor, config: DDPOConfig, gen: torch.Generator
                 ) -> dict[str, float]:
    """The inner epochs of one DDPO iteration; returns the mean diagnostics."""
    torch, _ = _import()
    device = _model_device(policy)
    n, d = len(adv), chain.latents[0, 0].numel()
    sums = {"loss": 0.0, "approx_kl": 0.0, "clip_frac": 0.0, "kl_to_base": 0.0}
    count = 0
    for _ in range(config.inner_epochs):
        perm = torch.randperm(n, generator=gen)
        for lo in range(0, n, config.train_batch_size):
            mb = perm[lo:lo + config.train_batch_size]
            opt.zero_grad(set_to_none=True)
            step_stats = _ddpo_minibatch(policy, base, sched, chain, adv, mb, config, device, d)
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            opt.step()
            for k in sums:
                sums[k] += step_stats[k]
            count += 1
    return {k: v / count for k, v in sums.items()}


def _ddpo_minibatch(policy: UNet2DModel, base: UNet2DModel, sched: Any, chain: Chain,
                    adv: torch.Tensor, mb: torch.Tensor, config: DDPOConfig, device: Any,
                    d: int) -> dict[str, float]:
    """Accumulate the clipped surrogate's gradient over every timestep of the chains ``mb``."""
    torch, _ = _import()
    steps = len(chain.timesteps)
    a = adv[mb].to(device)
    out = {"loss": 0.0, "approx_kl": 0.0, "clip_frac": 0.0, "kl_to_base": 0.0}
    for j, t in enumerate(chain.timesteps):
        x_t = chain.latents[mb, j].to(device)
        x_prev = chain.latents[mb, j + 1].to(device)
        t_dev = t.to(device)
        mu, sigma = ddim_step_gaussian(sched, policy(x_t, t_dev).sample, int(t), x_t,
                                       chain.eta)
        logp = gaussian_log_prob(x_prev, mu, sigma) / d
        old = chain.log_probs[mb, j].to(device) / d
        ratio = torch.exp(logp - old)
        surrogate = torch.maximum(-a * ratio, -a * ratio.clamp(1 - config.clip_range,
                                                               1 + config.clip_range)).mean()
        with torch.no_grad():
            mu_base, _ = ddim_step_gaussian(sched, base(x_t, t_dev).sample, int(t), x_t,
                                            chain.eta)
        kl = (mu - mu_base).pow(2).flatten(1).sum(1) / (2 * sigma ** 2)  # (B,) nats
        loss = surrogate + config.kl_coef * kl.mean() / d
        (loss / steps).backward()
        with torch.no_grad():
            out["loss"] += float(loss) / steps
            out["approx_kl"] += float(0.5 * (logp - old).pow(2).mean()) / steps
            out["clip_frac"] += float(((ratio - 1).abs() > config.clip_range).float().mean()
                                      ) / steps
            out["kl_to_base"] += float(kl.mean())
    return out


# --------------------------------------------------------------------------- Diffusion-DPO


def _check_pairs(winners: np.ndarray, losers: np.ndarray, unet: Any) -> tuple[Any, Any]:
    size = unet.config.sample_size
    w = check_images(winners, size=size, channels=unet.config.in_channels, name="winners")
    lo = check_images(losers, size=size, channels=unet.config.in_channels, name="losers")
    if len(w) != len(lo):
        raise InputError(f"winners ({len(w)}) and losers ({len(lo)}) must pair up one to one")
    return images_to_tensor(w), images_to_tensor(lo)


def _dpo_terms(policy: UNet2DModel, ref: UNet2DModel, sched: Any, x_w: torch.Tensor,
               x_l: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, beta: float
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-pair ``inside`` term of the Diffusion-DPO loss, and the four MSEs."""
    torch, _ = _import()
    device = _model_device(policy)
    noisy = torch.cat([sched.add_noise(x_w, noise, t), sched.add_noise(x_l, noise, t)])
    noisy, tt, target = noisy.to(device), torch.cat([t, t]).to(device), \
        torch.cat([noise, noise]).to(device)
    mse = (policy(noisy, tt).sample - target).pow(2).flatten(1).mean(1)
    with torch.no_grad():
        ref_mse = (ref(noisy, tt).sample - target).pow(2).flatten(1).mean(1)
    m_w, m_l = mse.chunk(2)
    r_w, r_l = ref_mse.chunk(2)
    inside = -0.5 * beta * ((m_w - r_w) - (m_l - r_l))
    return inside, {"mse_w": m_w, "mse_l": m_l, "ref_mse_w": r_w, "ref_mse_l": r_l}


def diffusion_dpo(unet: UNet2DModel, ref_unet: UNet2DModel, winners: np.ndarray,
                  losers: np.ndarray, config: DiffusionDPOConfig, *, seed: int,
                  progress: Progress | None = None) -> Tuned:
    """Tune a copy of ``unet`` on preference pairs by Diffusion-DPO (Wallace et al. 2023).

    Parameters
    ----------
    unet : UNet2DModel
        The starting model; copied, never changed.
    ref_unet : UNet2DModel
        The reference (usually the same base); frozen.
    winners, losers : uint8 (P, H, W, 3)
        Pair ``i`` is ``winners[i]`` preferred over ``losers[i]``.
    config : DiffusionDPOConfig
    seed : int
        Seeds the pair order, the noise and the timesteps.
    progress : optional ``progress("diffusion-dpo: step", done, total)``

    Returns
    -------
    Tuned
        ``log`` per step: ``loss`` (lower is better; ``log 2`` at the start, where the policy
        is the reference), ``accuracy`` (share of pairs with a positive implicit reward
        margin), ``margin`` (mean inside term) and the mean MSEs of policy and reference.

    Notes
    -----
    For a pair, one ``t ~ U{0..T-1}`` and one ``e ~ N(0, I)`` shared by winner and loser,
    ``x^w_t``, ``x^l_t`` their noised images and ``L(x) = mean_pixels ||e - e(x_t, t)||^2``:

    ``loss = -log sigmoid(-beta/2 [(L_theta(x^w) - L_ref(x^w)) - (L_theta(x^l) - L_ref(x^l))])``

    This is eq. 14 of Wallace et al. with ``T omega(lambda_t)`` folded into ``beta`` and the
    squared norm taken as a per-pixel mean, as in their reference training code (which
    writes ``-0.5 * beta_dpo`` with ``beta_dpo = 5000``).
    """
    torch, _ = _import()
    x_w, x_l = _check_pairs(winners, losers, unet)
    report = progress or no_progress
    ref = _frozen_copy(ref_unet)
    policy = copy.deepcopy(unet).train()
    policy.requires_grad_(True)
    sched = train_scheduler(unet.config.num_train_timesteps or 1000)
    opt = torch.optim.AdamW(policy.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(_sub_seed(seed, 2))
    order, pos = torch.randperm(len(x_w), generator=gen), 0
    log: list[dict[str, float]] = []
    for step in range(config.steps):
        if pos >= len(order):
            order, pos = torch.randperm(len(x_w), generator=gen), 0
        idx = order[pos:pos + config.batch_size]
        pos += len(idx)
        noise = torch.randn(x_w[idx].shape, generator=gen)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), generator=gen)
        inside, mses = _dpo_terms(policy, ref, sched, x_w[idx], x_l[idx], noise, t,
                                  config.beta)
        loss = -torch.nn.functional.logsigmoid(inside).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        opt.step()
        log.append({"step": step + 1, "loss": float(loss.detach()),
                    "accuracy": float((inside > 0).float().mean()),
                    "margin": float(inside.detach().mean()),
                    **{k: float(v.detach().mean()) for k, v in mses.items()}})
        report("diffusion-dpo: step", step + 1, config.steps)
    return Tuned(policy.eval(), log)


def dpo_preference_stats(unet: UNet2DModel, ref_unet: UNet2DModel, winners: np.ndarray,
                         losers: np.ndarray, *, beta: float, seed: int, draws: int = 4,
                         batch_size: int = 64) -> dict[str, float]:
    """The Diffusion-DPO loss and implicit accuracy of ``unet`` on pairs, on fixed noise.

    Every pair is scored at ``draws`` (t, e) draws that depend only on ``seed``, so two
    models evaluated with the same seed see the same noise; ``accuracy`` is the share of
    (pair, draw) with a positive margin (ties at 0 count as half). See :func:`diffusion_dpo`.
    """
    torch, _ = _import()
    x_w, x_l = _check_pairs(winners, losers, unet)
    if draws < 1 or beta <= 0:
        raise InputError(f"draws={draws} must be >= 1 and beta={beta} > 0")
    sched = train_scheduler(unet.config.num_train_timesteps or 1000)
    gen = torch.Generator().manual_seed(_sub_seed(seed, 3))
    was = unet.training
    unet.eval()
    inside = []
    with torch.no_grad():
        for _ in range(draws):
            for lo in range(0, len(x_w), batch_size):
                w, lo_ = x_w[lo:lo + batch_size], x_l[lo:lo + batch_size]
                noise = torch.randn(w.shape, generator=gen)
                t = torch.randint(0, sched.config.num_train_timesteps, (len(w),),
                                  generator=gen)
                inside.append(_dpo_terms(unet, ref_unet, sched, w, lo_, noise, t, beta)[0])
    unet.train(was)
    z = torch.cat(inside).cpu()
    return {"loss": float(-torch.nn.functional.logsigmoid(z).mean()),
            "accuracy": float(((z > 0).float() + 0.5 * (z == 0).float()).mean()),
            "margin": float(z.mean())}


# --------------------------------------------------------------------------- best-of-n


@dataclass(frozen=True)
class BestOfN:
    """Best-of-``n`` on a pool: sampled draws and the exact expectation over the pool."""

    n: int
    indices: np.ndarray   # int (draws,): the pool index each draw chose
    images: np.ndarray    # uint8 (draws, H, W, 3): the chosen images
    rewards: np.ndarray   # (draws,): their rewards
    weights: np.ndarray   # (N,): P(pool item i is the best of a uniform n-subset)
    expected_reward: float  # weights @ pool rewards, exact

    def expectation(self, values: np.ndarray) -> float:
        """Exact ``E[f(best of n)]`` over the pool, for per-pool-item values ``f``."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(v) != len(self.weights):
            raise InputError(f"values has {len(v)} entries for a pool of {len(self.weights)}")
        return float(self.weights @ v)


def best_of_n(images: np.ndarray, rewards: np.ndarray, n: int, *, seed: int,
              draws: int | None = None) -> BestOfN:
    """The best of ``n`` pool images by reward, per draw; and its exact pool expectation.

    Parameters
    ----------
    images : uint8 (N, H, W, 3)
        A pool of generated samples.
    rewards : (N,)
        Their rewards (higher is better).
    n : int, 1 <= n <= N
    seed : int
        Seeds the draws.
    draws : int, optional
        How many best-of-n draws (default ``N // n``: disjoint groups of one permutation;
        more draws use further permutations).

    Returns
    -------
    BestOfN
        ``indices``/``images``/``rewards`` of the draws (each the best of ``n`` pool items
        drawn without replacement; ties go to the first drawn), and ``weights``, the exact
        probability that each pool item is the best of a uniformly random ``n``-subset
        (ties split evenly), so ``expected_reward = weights @ rewards`` is the mean the draws
        estimate.

    Notes
    -----
    ``weights_(i) = C(i-1, n-1) / C(N, n)`` for the ``i``-th smallest reward
    (:func:`rewardshift.lab.optimize.best_of_n_weights`).
    """
    pool = check_images(images, name="images")
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if len(r) != len(pool) or not np.all(np.isfinite(r)):
        raise InputError(f"rewards: need one finite reward per image ({len(pool)}), got "
                         f"{len(r)}")
    if not 1 <= int(n) <= len(pool):
        raise InputError(f"n={n} must be between 1 and the pool size {len(pool)}")
    n = int(n)
    k = len(pool) // n if draws is None else int(draws)
    if k < 1:
        raise InputError(f"draws={draws} must be >= 1")
    rng = np.random.default_rng(seed)
    per_perm = len(pool) // n
    perms = [rng.permutation(len(pool))[:per_perm * n] for _ in range(math.ceil(k / per_perm))]
    groups = np.concatenate(perms)[:k * n].reshape(k, n)
    idx = groups[np.arange(k), np.argmax(r[groups], axis=1)]
    w = best_of_n_weights(r, n)
    return BestOfN(n, idx, pool[idx], r[idx], w, float(w @ r))
