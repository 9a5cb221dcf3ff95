"""A small CNN that reads latents off rendered frames where an analytic measure is too crude.

Three 3x3 conv blocks (16, 32, 64 channels; ReLU; 2x2 max-pool), a 2x2 adaptive average pool,
then a two-layer MLP head; :meth:`ImageRegressor.features` is the hidden layer of the head
(the penultimate activations, ``hidden`` wide). Targets are standardised for training and
returned in their own units. Saved as ``regressor.json`` plus ``weights.pt`` (a state dict read
back with ``torch.load(..., weights_only=True)``; nothing is pickled).

Needs the ``images`` extra (torch).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.config import Config
from rewardshift.progress import Progress, no_progress

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise MissingDependencyError("torch", "images") from exc

__all__ = ["ImageRegressor", "RegressorConfig", "fit_regressor"]


@dataclass(frozen=True)
class RegressorConfig(Config):
    """Shape of an :class:`ImageRegressor` and the scale of its targets."""

    targets: tuple[str, ...] = field(default=(), metadata={"help": "target names, in order"})
    mean: tuple[float, ...] = field(default=(), metadata={"help": "target means (training)"})
    std: tuple[float, ...] = field(default=(), metadata={"help": "target sds (training)"})
    channels: tuple[int, int, int] = field(default=(16, 32, 64), metadata={
        "help": "channels of the three conv blocks"})
    hidden: int = field(default=64, metadata={"help": "width of the penultimate layer"})

    def __post_init__(self) -> None:
        if not (len(self.targets) == len(self.mean) == len(self.std)) or not self.targets:
            raise InputError(f"RegressorConfig needs one mean and sd per target, got "
                             f"{len(self.targets)} targets, {len(self.mean)} means, "
                             f"{len(self.std)} sds")
        if self.hidden < 1 or min(self.channels) < 1:
            raise InputError(f"RegressorConfig hidden={self.hidden} and channels="
                             f"{self.channels} must be >= 1")


class _Net(nn.Module):
    def __init__(self, c: RegressorConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = 3
        for ch in c.channels:
            layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            prev = ch
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(4 * prev, c.hidden), nn.ReLU())
        self.out = nn.Linear(c.hidden, len(c.targets))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, hidden)
        return self.hidden(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def _tensor(images: np.ndarray) -> torch.Tensor:
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8 or min(a.shape[1:3]) < 8:
        raise InputError(f"images should be uint8 of shape (N, H, W, 3) with H, W >= 8, got "
                         f"{a.dtype} {a.shape}")
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5)


class ImageRegressor:
    """A trained CNN regressor: :meth:`predict`, :meth:`features`, :meth:`save`, :meth:`load`."""

    def __init__(self, config: RegressorConfig, net: _Net | None = None) -> None:
        self.config = config
        self.net = net or _Net(config)
        self.net.eval()

    def _batched(self, images: np.ndarray, fn: str, batch: int = 512) -> np.ndarray:
        x = _tensor(images)
        with torch.no_grad():
            parts = [getattr(self.net, fn)(x[i:i + batch]) for i in range(0, len(x), batch)]
        return torch.cat(parts).double().numpy() if parts else np.zeros((0, 0))

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Each target's prediction in its own units, float64 ``(N,)``."""
        z = self._batched(images, "forward")
        mean, std = np.asarray(self.config.mean), np.asarray(self.config.std)
        return {name: z[:, i] * std[i] + mean[i] for i, name in enumerate(self.config.targets)}

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate activations, float64 ``(N, hidden)``."""
        return self._batched(images, "features")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``regressor.json`` and ``weights.pt`` into the folder ``path``; returns it."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / "regressor.json").write_text(json.dumps(self.config.to_dict(), indent=2),
                                         encoding="utf-8")
        torch.save(self.net.state_dict(), out / "weights.pt")
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ImageRegressor:
        """Read a regressor written by :meth:`save`."""
        folder = Path(path)
        if not (folder / "regressor.json").is_file() or not (folder / "weights.pt").is_file():
            raise InputError(f"{folder}: not a saved ImageRegressor (regressor.json and weights.pt "
                             "expected); write one with ImageRegressor.save")
        config = RegressorConfig.from_dict(
            json.loads((folder / "regressor.json").read_text(encoding="utf-8")),
            where=str(folder / "regressor.json"))
        net = _Net(config)
        net.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
        return cls(config, net)


def fit_regressor(images: np.ndarray, targets: Mapping[str, np.ndarray], *, seed: int,
                  epochs: int = 10, batch_size: int = 64, lr: float = 2e-3,
                  progress: Progress | None = None) -> ImageRegressor:
    """Train an :class:`ImageRegressor` (Adam, mean squared error on standardised targets).

    Parameters
    ----------
    images : uint8 (N, H, W, 3).
    targets : name -> finite float array (N,) each.
    seed : seeds the initial weights and the batch order.
    epochs, batch_size, lr : training schedule.
    progress : optional ``progress(stage, done, total)``, called once per epoch.
    """
    x = _tensor(images)
    if not targets:
        raise InputError("targets is empty: give at least one name -> (N,) array to learn")
    y = np.stack([np.asarray(targets[k], dtype=np.float64) for k in targets], axis=1)
    if y.shape[0] != len(x) or not np.isfinite(y).all():
        raise InputError(f"targets should be finite arrays of length {len(x)} (one per image), "
                         f"got shape {y.shape}; drop the NaN rows first")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise InputError(f"epochs={epochs}, batch_size={batch_size} must be >= 1 and lr={lr} "
                         "> 0")
    mean, std = y.mean(axis=0), np.maximum(y.std(axis=0), 1e-12)
    config = RegressorConfig(targets=tuple(targets), mean=tuple(map(float, mean)),
                             std=tuple(map(float, std)))
    torch.manual_seed(seed)
    net = _Net(config)
    z = torch.from_numpy((y - mean) / std).float()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    report = progress or no_progress
    net.train()
    for epoch in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x[idx]), z[idx])
            loss.backward()
            opt.step()
        report("cnn: epoch", epoch + 1, epochs)
    return ImageRegressor(config, net)
