"""The generator: a small diffusers ``UNet2DModel`` trained as a DDPM and sampled with DDIM.

* :class:`DiffusionConfig` -- the UNet's shape and the pretraining schedule;
* :func:`pretrain_unet` -- the epsilon-prediction loss of Ho et al. 2020 (arXiv 2006.11239,
  eq. 14), ``E_{x0, t, e} ||e - e_theta(sqrt(a_t) x0 + sqrt(1 - a_t) e, t)||^2``, trained with
  AdamW; it saves ``out/unet`` and ``out/scheduler`` in diffusers format;
* :func:`load_unet`, :func:`load_scheduler` -- ``from_pretrained`` of those folders;
* :func:`sample_images` -- DDIM sampling (Song et al. 2020, arXiv 2010.02502, eq. 12/16). With
  ``eta > 0`` every step is a Gaussian policy ``x_{t-1} ~ N(mu_theta(x_t, t), sigma_t^2 I)``
  (:func:`ddim_step_gaussian`), and ``return_chain=True`` keeps the latents and the log-density
  of each chosen ``x_{t-1}``, which is what DDPO (:mod:`rewardshift.images.tune`) needs.

Images are ``uint8 (N, H, W, 3)``; the model sees ``float32 (N, 3, H, W)`` in ``[-1, 1]``.

Seeds: the noise of sample ``i`` under ``seed`` comes from its own generator
(``SeedSequence([seed, i])``), so it does not depend on the model, ``n`` or the batch size:
the base and a tuned model sampled with the same seed start from, and are perturbed by, the
same noise (image grids "from the same seeds").

torch and diffusers are imported inside the functions (the ``images`` extra).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.config import Config
from rewardshift.metrics.images import check_images
from rewardshift.progress import Progress, no_progress

if TYPE_CHECKING:
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

__all__ = [
    "Chain",
    "DiffusionConfig",
    "PretrainResult",
    "build_unet",
    "ddim_scheduler",
    "ddim_step_gaussian",
    "gaussian_log_prob",
    "images_to_tensor",
    "load_scheduler",
    "load_unet",
    "pretrain_unet",
    "sample_images",
    "tensor_to_images",
    "train_scheduler",
]


@dataclass(frozen=True)
class DiffusionConfig(Config):
    """A small pixel-space UNet and its DDPM pretraining, sized for 2 CPU cores.

    The default UNet has three resolutions (32, 16, 8 px) and no attention: ~0.6 M parameters.
    """

    _label = "diffusion config"

    image_size: int = field(default=32, metadata={"help": "height = width of the images"})
    channels: int = field(default=3, metadata={"help": "colour channels (RGB)"})
    block_out_channels: tuple[int, ...] = field(default=(16, 32, 64), metadata={
        "help": "UNet channels per resolution; each level halves the image"})
    layers_per_block: int = field(default=1, metadata={"help": "ResNet blocks per level"})
    attention: bool = field(default=False, metadata={
        "help": "self-attention at the lowest resolution and in the middle block"})
    norm_num_groups: int = field(default=8, metadata={
        "help": "GroupNorm groups; must divide every entry of block_out_channels"})
    num_train_timesteps: int = field(default=1000, metadata={
        "help": "DDPM timesteps T (linear betas 1e-4..0.02, Ho et al. 2020)"})
    sample_steps: int = field(default=20, metadata={"help": "DDIM steps when sampling"})
    train_steps: int = field(default=400, metadata={"help": "optimizer steps of pretraining"})
    batch_size: int = field(default=64, metadata={"help": "images per optimizer step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    warmup_steps: int = field(default=20, metadata={"help": "linear learning-rate warm-up"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient-norm clip"})
    seed: int = field(default=0, metadata={"help": "seed when the caller gives none"})
    device: str = field(default="auto", metadata={
        "help": "'auto' (cuda when present, else cpu), 'cpu' or 'cuda'"})

    def __post_init__(self) -> None:
        levels = len(self.block_out_channels)
        if levels < 1 or any(c < 1 for c in self.block_out_channels):
            raise InputError(f"block_out_channels={self.block_out_channels!r}: give one "
                             "positive channel count per resolution")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise InputError(f"norm_num_groups={self.norm_num_groups} must divide every entry "
                             f"of block_out_channels={self.block_out_channels!r}")
        if self.image_size < 2 ** (levels - 1) or self.image_size % 2 ** (levels - 1):
            raise InputError(f"image_size={self.image_size} must be a multiple of "
                             f"2**(levels - 1) = {2 ** (levels - 1)} for {levels} UNet levels")
        for name in ("channels", "layers_per_block", "num_train_timesteps", "sample_steps",
                     "train_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)} must be >= 1")
        if self.sample_steps > self.num_train_timesteps:
            raise InputError(f"sample_steps={self.sample_steps} must be <= "
                             f"num_train_timesteps={self.num_train_timesteps}")
        if self.learning_rate <= 0 or self.warmup_steps < 0 or self.max_grad_norm <= 0:
            raise InputError("learning_rate and max_grad_norm must be > 0, warmup_steps >= 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"device={self.device!r}: choose 'auto', 'cpu' or 'cuda'")


@dataclass(frozen=True)
class PretrainResult:
    """What :func:`pretrain_unet` did: where the model is and how the loss went."""

    unet_path: Path
    scheduler_path: Path
    log: list[dict[str, float]]  # one {"step", "loss", "lr"} per optimizer step
    seconds: float

    @property
    def final_loss(self) -> float:
        """Mean loss over the last 10% of the steps (at least one)."""
        k = max(1, len(self.log) // 10)
        return float(np.mean([r["loss"] for r in self.log[-k:]]))


@dataclass(frozen=True)
class Chain:
    """A DDIM sampling chain of ``N`` images over ``S`` steps (see :func:`sample_images`)."""

    images: np.ndarray       # uint8 (N, H, W, C): the final latents, as images
    latents: torch.Tensor    # float32 (N, S + 1, C, H, W): x_T, ..., x_0 (CPU)
    log_probs: torch.Tensor  # float32 (N, S): log N(x_{t-1}; mu, sigma^2 I), summed over
    #                          pixels; (N, 0) when eta = 0 (a deterministic chain)
    timesteps: torch.Tensor  # int64 (S,): the t of each step, decreasing
    eta: float


# --------------------------------------------------------------------------- torch helpers


def _import() -> tuple[Any, Any]:
    try:
        import diffusers
        import torch
    except ImportError as exc:  # pragma: no cover - depends on extras
        raise MissingDependencyError(getattr(exc, "name", None) or "diffusers", "images") from exc
    return torch, diffusers


def _device(name: str) -> str:
    torch, _ = _import()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _model_device(unet: UNet2DModel) -> torch.device:
    return next(unet.parameters()).device


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8 (N, H, W, C)`` -> ``float32 (N, C, H, W)`` in ``[-1, 1]`` (``x / 127.5 - 1``)."""
    torch, _ = _import()
    x = torch.from_numpy(np.ascontiguousarray(check_images(images).transpose(0, 3, 1, 2)))
    return x.float() / 127.5 - 1.0


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """``float (N, C, H, W)`` in ``[-1, 1]`` -> ``uint8 (N, H, W, C)`` (clipped, rounded)."""
    torch, _ = _import()
    y = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return y.to(dtype=torch.uint8).permute(0, 2, 3, 1).numpy()


# --------------------------------------------------------------------------- model, schedulers


def build_unet(config: DiffusionConfig) -> UNet2DModel:
    """A fresh (randomly initialised by torch's global RNG) ``UNet2DModel`` of ``config``."""
    _, diffusers = _import()
    levels = len(config.block_out_channels)
    att = [config.attention and i == levels - 1 for i in range(levels)]
    return diffusers.UNet2DModel(
        sample_size=config.image_size, in_channels=config.channels,
        out_channels=config.channels, block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in att),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(att)),
        norm_num_groups=config.norm_num_groups, add_attention=config.attention,
        attention_head_dim=8, num_train_timesteps=config.num_train_timesteps)


def train_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The DDPM noise schedule: linear betas from 1e-4 to 0.02 (Ho et al. 2020, sec. 4)."""
    _, diffusers = _import()
    return diffusers.DDPMScheduler(num_train_timesteps=num_train_timesteps,
                                   beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                                   clip_sample=True, prediction_type="epsilon")


def ddim_scheduler(source: Any = None) -> DDIMScheduler:
    """A DDIM scheduler on the betas of ``source`` (a scheduler, a UNet, or ``None``).

    ``source`` a scheduler: its betas; a UNet: :func:`train_scheduler` of its
    ``num_train_timesteps``; ``None``: :func:`train_scheduler` (T = 1000). "leading" spacing
    with ``steps_offset=1`` and ``set_alpha_to_one=False`` (as Stable Diffusion and DDPO use)
    keep ``sigma_t > 0`` at every step, the last one included, so each step is a proper
    Gaussian for ``eta > 0``.
    """
    _, diffusers = _import()
    if source is None or isinstance(source, diffusers.ModelMixin):
        t_train = getattr(getattr(source, "config", None), "num_train_timesteps", None)
        source = train_scheduler(t_train or 1000)
    return diffusers.DDIMScheduler.from_config(
        source.config, timestep_spacing="leading", steps_offset=1, set_alpha_to_one=False,
        clip_sample=True, prediction_type="epsilon")


def load_unet(path: str | Path) -> UNet2DModel:
    """The UNet saved by :func:`pretrain_unet` (``out/unet``), in eval mode."""
    _, diffusers = _import()
    if not Path(path, "config.json").is_file():
        raise InputError(f"{path}: no diffusers UNet here (config.json missing); give the "
                         "'unet' folder that pretraining wrote")
    return diffusers.UNet2DModel.from_pretrained(str(path)).eval()


def load_scheduler(path: str | Path) -> DDIMScheduler:
    """The DDIM sampler on the noise schedule saved by :func:`pretrain_unet` (``out/scheduler``)."""
    _, diffusers = _import()
    return ddim_scheduler(diffusers.DDPMScheduler.from_pretrained(str(path)))


# --------------------------------------------------------------------------- pretraining


def pretrain_unet(images: np.ndarray, config: DiffusionConfig, out: str | Path, *,
                  seed: int | None = None, progress: Progress | None = None) -> PretrainResult:
    """Train a fresh UNet on ``images`` with the DDPM loss and save it under ``out``.

    Parameters
    ----------
    images : uint8 (N, H, W, C)
        The training images, ``H = W = config.image_size``.
    config : DiffusionConfig
    out : path
        Receives ``unet/`` (``UNet2DModel.save_pretrained``), ``scheduler/`` (the
        ``DDPMScheduler``) and ``diffusion_config.json``.
    seed : int, optional
        Seeds the initial weights, the batch order, the noise and the timesteps
        (``config.seed`` when omitted). The same seed on the same device gives the same model.
    progress : optional ``progress("pretrain: step", done, total)``

    Returns
    -------
    PretrainResult
        The paths and the per-step loss ``mean_{pixels} (e - e_theta)^2`` (lower is better).

    Notes
    -----
    Each step draws a batch without replacement (a fresh permutation per epoch), ``t`` uniform
    on ``{0, ..., T-1}`` and ``e ~ N(0, I)``, forms ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) e``
    (``DDPMScheduler.add_noise``) and minimises the MSE of the predicted noise (Ho et al. 2020,
    Algorithm 1) with AdamW, a linear warm-up and gradient-norm clipping.
    """
    torch, _ = _import()
    x0 = images_to_tensor(check_images(images, size=config.image_size,
                                       channels=config.channels))
    seed = config.seed if seed is None else int(seed)
    report = progress or no_progress
    device = _device(config.device)
    torch.manual_seed(seed)  # the initial weights
    unet = build_unet(config).to(device).train()
    sched = train_scheduler(config.num_train_timesteps)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)
    warm = max(1, config.warmup_steps)
    lr_at = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    log: list[dict[str, float]] = []
    order, pos = torch.randperm(len(x0), generator=gen), 0
    start = time.perf_counter()
    for step in range(config.train_steps):
        if pos + config.batch_size > len(order) and pos > 0:
            order, pos = torch.randperm(len(x0), generator=gen), 0
        idx = order[pos:pos + config.batch_size]
        pos += len(idx)
        batch = x0[idx]
        noise = torch.randn(batch.shape, generator=gen)
        t = torch.randint(0, config.num_train_timesteps, (len(batch),), generator=gen)
        noisy = sched.add_noise(batch, noise, t)
        pred = unet(noisy.to(device), t.to(device)).sample
        loss = torch.nn.functional.mse_loss(pred, noise.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), config.max_grad_norm)
        opt.step()
        log.append({"step": step + 1, "loss": float(loss.detach()),
                    "lr": float(lr_at.get_last_lr()[0])})
        lr_at.step()
        report("pretrain: step", step + 1, config.train_steps)
    seconds = time.perf_counter() - start
    out = Path(out)
    unet.eval().to("cpu").save_pretrained(str(out / "unet"))
    sched.save_pretrained(str(out / "scheduler"))
    (out / "diffusion_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n",
                                               encoding="utf-8")
    return PretrainResult(out / "unet", out / "scheduler", log, seconds)


# --------------------------------------------------------------------------- DDIM as a policy


def _alpha_bars(scheduler: DDIMScheduler, t: int) -> tuple[float, float]:
    """``(a_t, a_prev)``: the cumulative alphas at ``t`` and at the step's previous timestep."""
    prev = t - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    a_t = float(scheduler.alphas_cumprod[t])
    a_prev = float(scheduler.alphas_cumprod[prev]) if prev >= 0 else float(
        scheduler.final_alpha_cumprod)
    return a_t, a_prev


def ddim_step_gaussian(scheduler: DDIMScheduler, eps: torch.Tensor, t: int,
                       x_t: torch.Tensor, eta: float) -> tuple[torch.Tensor, float]:
    """The Gaussian ``N(mu, sigma^2 I)`` that a DDIM step from ``x_t`` draws ``x_{t-1}`` from.

    Parameters
    ----------
    scheduler : DDIMScheduler
        After ``set_timesteps(S)``; epsilon prediction.
    eps : tensor (N, C, H, W)
        The model's noise prediction ``e_theta(x_t, t)``.
    t : int
        The current timestep; the previous one is ``t - T // S``.
    x_t : tensor (N, C, H, W)
    eta : float >= 0

    Returns
    -------
    (mu, sigma)
        ``x0 = clip((x_t - sqrt(1 - a_t) eps) / sqrt(a_t))`` (clipped to the scheduler's range
        when ``clip_sample``), ``sigma = eta sqrt((1 - a_prev)/(1 - a_t) (1 - a_t/a_prev))``
        and ``mu = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps`` (Song et al. 2020,
        eq. 12 and 16). ``mu`` is differentiable in ``eps``; it equals
        ``scheduler.step(eps, t, x_t, eta=eta, variance_noise=0).prev_sample``.
    """
    a_t, a_prev = _alpha_bars(scheduler, int(t))
    x0 = (x_t - (1.0 - a_t) ** 0.5 * eps) / a_t ** 0.5
    if scheduler.config.clip_sample:
        r = scheduler.config.clip_sample_range
        x0 = x0.clamp(-r, r)
    var = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev)
    sigma = eta * var ** 0.5
    mu = a_prev ** 0.5 * x0 + max(0.0, 1.0 - a_prev - sigma ** 2) ** 0.5 * eps
    return mu, sigma


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, sigma: float) -> torch.Tensor:
    """``log N(x; mu, sigma^2 I)`` per sample (summed over all but the first axis)."""
    d = x[0].numel()
    sq = (x - mu).pow(2).flatten(1).sum(1)
    return -sq / (2.0 * sigma ** 2) - d * (np.log(sigma) + 0.5 * np.log(2.0 * np.pi))


def _sample_noise(seed: int, first: int, count: int, steps: int,
                  shape: Sequence[int]) -> torch.Tensor:
    """(count, steps + 1, *shape) standard normals; sample ``i``'s own from ``[seed, i]``."""
    torch, _ = _import()
    out = torch.empty((count, steps + 1, *shape))
    for j in range(count):
        state = np.random.SeedSequence([int(seed), first + j]).generate_state(2, np.uint32)
        g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        out[j] = torch.randn((steps + 1, *shape), generator=g)
    return out


def _check_sampling(unet: Any, n: int, steps: int, eta: float, batch_size: int) -> None:
    if n < 1 or steps < 1 or batch_size < 1:
        raise InputError(f"n={n}, steps={steps} and batch_size={batch_size} must be >= 1")
    if eta < 0:
        raise InputError(f"eta={eta} must be >= 0 (0: deterministic DDIM, 1: DDPM-like)")
    t_train = getattr(unet.config, "num_train_timesteps", None) or 1000
    if steps > t_train:
        raise InputError(f"steps={steps} must be <= the model's {t_train} training timesteps")


def sample_images(unet: UNet2DModel, n: int, *, seed: int, steps: int, eta: float = 1.0,
                  batch_size: int = 64, scheduler: DDIMScheduler | None = None,
                  return_chain: bool = False,
                  progress: Progress | None = None) -> np.ndarray | Chain:
    """``n`` images from ``unet`` by DDIM sampling in ``steps`` steps.

    Parameters
    ----------
    unet : UNet2DModel
        An epsilon-prediction model (sampled in eval mode, without gradients, on its device).
    n : int >= 1
    seed : int
        Sample ``i``'s noise (``x_T`` and every step's) depends only on ``(seed, i)``.
    steps : int >= 1
        DDIM steps (``<=`` the training timesteps).
    eta : float >= 0
        ``0`` is deterministic DDIM; ``> 0`` makes every step a Gaussian (``1``: DDPM's
        posterior variance).
    batch_size : int
    scheduler : DDIMScheduler, optional
        Default: :func:`ddim_scheduler` of ``unet`` (the DDPM schedule of pretraining).
    return_chain : bool
        Return a :class:`Chain` (latents and per-step log-densities) instead of the images.
    progress : optional ``progress("sample: batch", done, total)``

    Returns
    -------
    uint8 (n, H, W, C), or :class:`Chain` when ``return_chain``.
    """
    torch, _ = _import()
    _check_sampling(unet, n, steps, eta, batch_size)
    sched = ddim_scheduler(unet if scheduler is None else scheduler)
    sched.set_timesteps(steps)
    report = progress or no_progress
    shape = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
    images, latents, logps = [], [], []
    total = -(-n // batch_size)
    was_training = unet.training
    unet.eval()
    with torch.no_grad():
        for b, first in enumerate(range(0, n, batch_size)):
            noise = _sample_noise(seed, first, min(batch_size, n - first), steps, shape)
            x, lp = _run_chain(unet, sched, noise, eta, return_chain)
            images.append(tensor_to_images(x[:, -1]))
            if return_chain:
                latents.append(x)
                logps.append(lp)
            report("sample: batch", b + 1, total)
    unet.train(was_training)
    if not return_chain:
        return np.concatenate(images)
    return Chain(np.concatenate(images), torch.cat(latents), torch.cat(logps),
                 sched.timesteps.clone(), float(eta))


def _run_chain(unet: UNet2DModel, sched: DDIMScheduler, noise: torch.Tensor, eta: float,
               keep: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents ``(B, S+1, C, H, W)`` (only the first and last unless ``keep``) and log-probs."""
    torch, _ = _import()
    device = _model_device(unet)
    x = noise[:, 0].to(device)
    kept, logps = [x.cpu()], []
    for j, t in enumerate(sched.timesteps):
        eps = unet(x, t.to(device)).sample
        mu, sigma = ddim_step_gaussian(sched, eps, int(t), x, eta)
        x = mu + sigma * noise[:, j + 1].to(device) if sigma > 0 else mu
        if keep:
            kept.append(x.cpu())
            if sigma > 0:
                logps.append(gaussian_log_prob(x, mu, sigma).cpu())
    if not keep:
        return torch.stack([kept[0], x.cpu()], 1), None
    lp = torch.stack(logps, 1) if logps else torch.zeros((len(x), 0))
    return torch.stack(kept, 1), lp
