"""Worlds: outcome spaces with a known ground truth, for the controlled RLHF laboratory.

A *world* fixes what an outcome is, how the truth generates outcomes, which feature axes are
*physical* (what the outcome is) and which are *perceptual* (what a rater sees), what we truly
want (the *gold* reward) and what pretraining gave us (the *base policy*, the truth or an
imperfect fit of it). Worlds know nothing of optimisers: :meth:`World.to_pool` hands a
:class:`~rewardshift.lab.pool.WeightedPool` to whatever re-weights it (DESIGN.md, "weighted pool").

Two kinds of sample come out of a world:

* ``world.sample(n, seed=...)`` draws ``n`` outcomes from the base policy. ``log_base`` is the
  log-density (or log-probability) of each draw under the base, ``log_truth`` the same under the
  ground truth; as a pool it carries equal weights ``1/n``.
* ``world.enumerate()`` lists every outcome of a finite world once, with ``log_base`` and
  ``log_truth`` the exact log-probabilities (each ``exp`` sums to 1); as a pool its weights are
  the base probabilities. Continuous worlds return ``None``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from rewardshift._exceptions import InputError

if TYPE_CHECKING:  # pragma: no cover
    from rewardshift.lab.pool import WeightedPool

__all__ = ["AxisInfo", "World", "WorldSample"]

AxisKind = Literal["physical", "perceptual"]


@dataclass(frozen=True)
class AxisInfo:
    """One named feature axis of a world.

    Attributes
    ----------
    kind : {"physical", "perceptual"}
        ``physical``: a property of the outcome itself (ground truth); ``perceptual``: what a
        rater sees and rewards.
    description : str
        One line: what the number means, its unit and range.
    iconic : float or None
        The raters' "iconic" point ``x0`` on this axis (the value a reward ``-k (x - x0)^2``
        pulls toward), or ``None`` where there is none.
    """

    kind: AxisKind
    description: str
    iconic: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("physical", "perceptual"):
            raise InputError(f"AxisInfo kind={self.kind!r} must be 'physical' or 'perceptual'")


@dataclass(frozen=True)
class WorldSample:
    """Outcomes of a world with their features and log-probabilities.

    Attributes
    ----------
    world : str
        Name of the world the outcomes come from (used in rater prompts).
    features : dict of str to ndarray, each (N,)
        Feature arrays, one entry per outcome. Categorical features hold integer codes whose
        labels are in ``categories``.
    log_base : ndarray (N,)
        Log-probability (finite world) or log-density (continuous world, in the coordinates
        the world documents) of each outcome under the base policy, ``log pi_ref``.
    log_truth : ndarray (N,) or None
        The same under the ground-truth distribution, where defined.
    enumerated : bool
        True when the outcomes are the whole finite support, each listed once
        (``exp(log_base)`` then sums to 1); False for draws from the base policy.
    categories : dict of str to tuple of str
        Labels of categorical features: ``categories[name][code]``.
    """

    world: str
    features: dict[str, np.ndarray]
    log_base: np.ndarray
    log_truth: np.ndarray | None = None
    enumerated: bool = False
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.log_base)
        for name, arr in {**self.features, "log_base": self.log_base,
                          "log_truth": self.log_truth}.items():
            if arr is not None and (np.ndim(arr) != 1 or len(arr) != n):
                raise InputError(f"WorldSample feature '{name}' has shape {np.shape(arr)}; "
                                 f"every array must be 1-D with the {n} outcomes of log_base")

    def __len__(self) -> int:
        return len(self.log_base)

    @property
    def base_prob(self) -> np.ndarray:
        """Base probabilities ``exp(log_base)``; defined only for an enumerated support."""
        if not self.enumerated:
            raise InputError("base_prob is defined only for an enumerated world sample; "
                             "a sampled pool has equal weights 1/N (use world.to_pool)")
        return np.exp(self.log_base)

    def take(self, idx: np.ndarray) -> WorldSample:
        """The outcomes at ``idx`` (a sub-sample, no longer the enumerated support)."""
        idx = np.asarray(idx)
        return WorldSample(
            world=self.world, features={k: v[idx] for k, v in self.features.items()},
            log_base=self.log_base[idx],
            log_truth=None if self.log_truth is None else self.log_truth[idx],
            enumerated=False, categories=self.categories)

    def row(self, i: int) -> dict[str, float | str]:
        """Outcome ``i`` as ``{feature: value}``, categorical codes replaced by their labels."""
        out: dict[str, float | str] = {}
        for k, v in self.features.items():
            out[k] = self.categories[k][int(v[i])] if k in self.categories else float(v[i])
        return out

    def describe(self, i: int) -> str:
        """Compact text of outcome ``i``: ``"fragments=12 asymmetry=0.41 ..."``."""
        parts = []
        for k, v in self.row(i).items():
            parts.append(f"{k}={v}" if isinstance(v, str) else f"{k}={v:.3g}")
        return " ".join(parts)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame of features (labels for categoricals), ``log_base`` and ``log_truth``."""
        cols: dict[str, np.ndarray] = {}
        for k, v in self.features.items():
            cols[k] = np.asarray(self.categories[k], dtype=object)[v] if k in self.categories else v
        cols["log_base"] = self.log_base
        if self.log_truth is not None:
            cols["log_truth"] = self.log_truth
        return pd.DataFrame(cols)


class World(abc.ABC):
    """A world with a known ground truth (see the module docstring).

    Subclasses set ``name`` and ``axes`` and implement :meth:`sample`, :meth:`gold` and
    :meth:`truth_log_prob`; finite worlds also implement :meth:`enumerate`.
    """

    name: str
    axes: dict[str, AxisInfo]

    @abc.abstractmethod
    def sample(self, n: int, *, seed: int) -> WorldSample:
        """Draw ``n`` outcomes from the base policy (deterministic given ``seed``)."""

    def enumerate(self) -> WorldSample | None:
        """Every outcome of a finite world once, with exact base and true log-probabilities.

        Returns ``None`` for a continuous world.
        """
        return None

    @abc.abstractmethod
    def gold(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """The gold reward of each outcome: what we truly want (higher is better)."""

    @abc.abstractmethod
    def truth_log_prob(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-probability (or log-density) of each outcome under the ground truth."""

    def axes_of(self, kind: AxisKind) -> list[str]:
        """Names of the axes of one kind, in declaration order."""
        return [k for k, a in self.axes.items() if a.kind == kind]

    def to_pool(self, ws: WorldSample) -> WeightedPool:
        """The weighted pool of a world sample: base probabilities if enumerated, else 1/N."""
        from rewardshift.lab.pool import WeightedPool

        if ws.enumerated:
            return WeightedPool.from_probabilities(np.exp(ws.log_base), features=ws.features,
                                                   log_base=ws.log_base)
        return WeightedPool.from_samples(len(ws), features=ws.features, log_base=ws.log_base)


def check_n(n: int, what: str = "n") -> int:
    """Check a sample size: a positive integer."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"{what}={n!r} must be a positive integer (e.g. {what}=1000)")
    return int(n)


def require_features(features: Mapping[str, object], names: list[str] | tuple[str, ...],
                     world: str) -> None:
    """Raise a clear error when ``features`` lacks any of ``names``."""
    missing = [k for k in names if k not in features]
    if missing:
        raise InputError(f"world '{world}' needs features {missing}; got {sorted(features)}. "
                         f"Pass the features dict of a WorldSample from this world")
