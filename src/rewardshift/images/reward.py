"""The image reward model: a small CNN fitted to raters' pairwise choices (Bradley–Terry).

The raters' likes (:class:`rewardshift.lab.raters.RaterPopulation` on the images' perceptual
measures) give pairs ``(chosen, rejected)``. The model scores an image ``r_theta(x)`` and is
fitted by maximum likelihood of the Bradley–Terry model (Bradley & Terry 1952), as a reward
model in RLHF is (Christiano et al. 2017; Ouyang et al. 2022):

    P(chosen > rejected) = sigma(r_theta(chosen) - r_theta(rejected))
    loss = - mean log sigma(r_theta(chosen) - r_theta(rejected))

Its held-out accuracy (the share of held-out pairs it orders as the raters did) is reported
beside the raters' own noise ceiling: with label noise, even the raters' mean utility orders
only ``mean max(p, 1 - p)`` of the pairs the way a random rater labels them, so no model can
be expected to do better.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.config import Config
from rewardshift.metrics.images import check_images
from rewardshift.progress import Progress, no_progress

__all__ = ["ImageRewardConfig", "ImageRewardModel", "fit_image_reward", "noise_ceiling"]


@dataclass(frozen=True)
class ImageRewardConfig(Config):
    """How the image reward model is fitted."""

    channels: tuple[int, ...] = field(default=(16, 32, 32), metadata={
        "help": "output channels of the stride-2 convolutions"})
    epochs: int = field(default=8, metadata={"help": "passes over the training pairs"})
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    heldout: float = field(default=0.2, metadata={"help": "share of pairs held out"})
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.channels or any(c < 1 for c in self.channels):
            raise InputError(f"channels={self.channels!r}: give positive channel counts")
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("epochs and batch_size must be >= 1")
        if not 0 < self.heldout < 1:
            raise InputError(f"heldout={self.heldout!r} must be in (0, 1)")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on extras
        raise MissingDependencyError("torch", "images") from exc
    return torch


def _network(channels: Sequence[int]) -> Any:
    """Stride-2 3x3 convolutions with ReLU, a global mean pool, one linear score."""
    nn = _torch().nn
    layers: list[Any] = []
    c_in = 3
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
        c_in = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 1)]
    return nn.Sequential(*layers)


def _tensor(images: np.ndarray) -> Any:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1]."""
    torch = _torch()
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() \
        .div_(127.5).sub_(1.0)


def noise_ceiling(p_chosen_first: np.ndarray) -> float:
    """The accuracy the raters' mean utility reaches on their own noisy labels,
    ``mean max(p, 1 - p)`` with ``p`` the Bradley–Terry probability of each pair."""
    p = np.asarray(p_chosen_first, dtype=float)
    if p.size == 0:
        raise InputError("noise_ceiling needs at least one pair")
    return float(np.mean(np.maximum(p, 1.0 - p)))


@dataclass
class ImageRewardModel:
    """A fitted image reward model. ``score`` maps uint8 images to rewards (higher = liked)."""

    config: ImageRewardConfig
    net: Any
    heldout_accuracy: float
    train_accuracy: float
    log: list[dict[str, float]]

    def score(self, images: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
        """Reward of each image, float64 (N,)."""
        torch = _torch()
        x = check_images(images)
        self.net.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out.append(self.net(_tensor(x[i:i + batch_size])).squeeze(1).double().numpy())
        return np.concatenate(out)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """``path/reward.pt`` (the state dict) and ``path/reward.json`` (config, accuracies)."""
        torch = _torch()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), p / "reward.pt")
        (p / "reward.json").write_text(json.dumps({
            "config": self.config.to_dict(), "heldout_accuracy": self.heldout_accuracy,
            "train_accuracy": self.train_accuracy, "log": self.log}, indent=1))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ImageRewardModel:
        """The model :meth:`save` wrote (weights only; nothing is unpickled)."""
        torch = _torch()
        p = Path(path)
        if not (p / "reward.pt").is_file() or not (p / "reward.json").is_file():
            raise InputError(f"{p}: no image reward model here (reward.pt, reward.json)")
        meta = json.loads((p / "reward.json").read_text())
        config = ImageRewardConfig.from_dict(meta["config"])
        net = _network(config.channels)
        net.load_state_dict(torch.load(p / "reward.pt", weights_only=True))
        return cls(config, net, meta["heldout_accuracy"], meta["train_accuracy"], meta["log"])


def fit_image_reward(images: np.ndarray, chosen: np.ndarray, rejected: np.ndarray,
                     config: ImageRewardConfig | None = None, *,
                     progress: Progress | None = None) -> ImageRewardModel:
    """Fit the Bradley–Terry CNN to pairs ``(images[chosen[k]], images[rejected[k]])``.

    Pairs are split at random (seeded) into training and held-out parts; the accuracies are
    the shares of pairs whose chosen image scores higher.
    """
    torch = _torch()
    cfg = config or ImageRewardConfig()
    x = check_images(images)
    c = np.asarray(chosen, dtype=np.int64)
    r = np.asarray(rejected, dtype=np.int64)
    if c.shape != r.shape or c.ndim != 1 or len(c) < 10:
        raise InputError(f"chosen and rejected must be 1-D index arrays of one length >= 10; "
                         f"got shapes {c.shape} and {r.shape}")
    if min(c.min(), r.min()) < 0 or max(c.max(), r.max()) >= len(x):
        raise InputError(f"pair indices must lie in 0..{len(x) - 1}")
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(c))
    n_held = max(1, int(round(cfg.heldout * len(c))))
    held, train = order[:n_held], order[n_held:]
    torch.manual_seed(cfg.seed)
    net = _network(cfg.channels)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    xt = _tensor(x)
    gen = torch.Generator().manual_seed(cfg.seed)
    tick = progress or no_progress
    log: list[dict[str, float]] = []
    steps = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    for epoch in range(cfg.epochs):
        net.train()
        perm = torch.randperm(len(train), generator=gen).numpy()
        total = 0.0
        for s in range(steps):
            idx = train[perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]]
            margin = net(xt[c[idx]]).squeeze(1) - net(xt[r[idx]]).squeeze(1)
            loss = torch.nn.functional.softplus(-margin).mean()  # -log sigma(margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        log.append({"epoch": epoch + 1, "loss": total / max(len(train), 1)})
        tick("image reward model", epoch + 1, cfg.epochs)
    model = ImageRewardModel(cfg, net, 0.0, 0.0, log)
    scores = model.score(x)
    correct = scores[c] > scores[r]
    model.heldout_accuracy = float(correct[held].mean())
    model.train_accuracy = float(correct[train].mean()) if len(train) else float("nan")
    return model
