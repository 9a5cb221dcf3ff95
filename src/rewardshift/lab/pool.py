"""The weighted pool: the one object every closed-form optimiser re-weights.

A pool is a set of outcomes ``x_1 … x_N`` with *base weights* ``w_i`` that sum to 1 and the
features of each outcome (DESIGN.md, "weighted pool"). Two kinds:

* **enumerated** (``sampled=False``): the outcomes are a whole finite support listed once and
  ``w_i = π_ref(x_i)`` exactly. Every expectation under a re-weighting is then exact.
* **sampled** (``sampled=True``): ``N`` draws from the base policy, each with ``w_i = 1/N``. A
  re-weighting ``π(x_i) ∝ w_i · ρ(x_i)`` is then a self-normalised importance-sampling estimate,
  trustworthy only while its effective sample size stays large.

``log_base`` carries ``log π_ref(x_i)`` where it is known (the log-probability or log-density
of each outcome under the base policy): typicality raters reward it even on a sampled pool,
where the weights themselves are flat.

The weighted statistics (:func:`weighted_mean`, :func:`weighted_var`,
:func:`weighted_quantile`) are plain functions; the pool's methods default their weights to the
base weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from rewardshift._exceptions import InputError

__all__ = ["WeightedPool", "weighted_mean", "weighted_quantile", "weighted_var"]

#: Tolerance on ``|Σ w − 1|`` for base weights (DESIGN.md: probabilities summing to 1).
SUM_TOL = 1e-9


def check_weights(weights, *, name: str = "weights", n: int | None = None) -> np.ndarray:
    """Return ``weights`` as a float64 1-D array after checking it is a probability vector.

    Raises :class:`InputError` naming ``name`` when the array is not 1-D, has the wrong
    length, holds a non-finite or negative entry, or does not sum to 1 within ``SUM_TOL``.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or len(w) == 0:
        raise InputError(f"{name} has shape {w.shape}; expected a non-empty 1-D array of "
                         "probabilities, one per outcome")
    if n is not None and len(w) != n:
        raise InputError(f"{name} has {len(w)} entries but the pool has {n} outcomes; "
                         "pass one weight per outcome")
    if not np.all(np.isfinite(w)):
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise InputError(f"{name}[{bad}]={float(w[bad])!r} is not finite; weights must be finite")
    if np.any(w < 0):
        bad = int(np.flatnonzero(w < 0)[0])
        raise InputError(f"{name}[{bad}]={float(w[bad])!r} is negative; weights must be >= 0")
    total = float(w.sum())
    if abs(total - 1.0) > SUM_TOL:
        raise InputError(f"{name} sums to {total!r}, not 1 (tolerance {SUM_TOL}); "
                         "normalise them first (w / w.sum())")
    return w


def _check_values(values, n: int, name: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) != n:
        raise InputError(f"{name} has shape {v.shape}; expected ({n},), one value per outcome")
    return v


def weighted_mean(values, weights) -> float:
    """Weighted mean ``μ = Σ_i w_i v_i`` (``weights`` sum to 1).

    Examples
    --------
    >>> weighted_mean([0.0, 1.0], [0.25, 0.75])
    0.75
    """
    w = check_weights(weights)
    return float(_check_values(values, len(w)) @ w)


def weighted_var(values, weights) -> float:
    """Weighted (population) variance ``Σ_i w_i (v_i − μ)²`` with ``μ = Σ_i w_i v_i``.

    The two-pass form, so no cancellation for values far from 0.

    Examples
    --------
    >>> weighted_var([0.0, 1.0], [0.5, 0.5])
    0.25
    """
    w = check_weights(weights)
    v = _check_values(values, len(w))
    return _var(v, w)


def _var(v: np.ndarray, w: np.ndarray) -> float:
    mu = float(v @ w)
    d = v - mu
    return float((d * d) @ w)


def weighted_quantile(values, q: float, weights) -> float:
    """Weighted lower quantile: the smallest ``v`` with ``Σ_{v_i ≤ v} w_i ≥ q``.

    This is the inverse of the weighted empirical CDF (Hyndman & Fan 1996, type 1 with
    weights); with equal weights it is ``np.quantile(values, q, method="inverted_cdf")``.

    Parameters
    ----------
    values : array (N,)
    q : float in [0, 1]
    weights : array (N,), probabilities summing to 1

    Examples
    --------
    >>> weighted_quantile([3.0, 1.0, 2.0], 0.5, [1/3, 1/3, 1/3])
    2.0
    """
    w = check_weights(weights)
    v = _check_values(values, len(w))
    if not 0.0 <= q <= 1.0:
        raise InputError(f"q={q!r} must lie in [0, 1]")
    return _quantile(v, q, w)


def _quantile(v: np.ndarray, q: float, w: np.ndarray) -> float:
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    k = int(np.searchsorted(cw, q * cw[-1] - 1e-15 * cw[-1], side="left"))
    return float(v[order][min(k, len(v) - 1)])


@dataclass(frozen=True)
class WeightedPool:
    """Outcomes with base weights and features; see the module docstring.

    Attributes
    ----------
    base_weights : ndarray (N,)
        Probabilities summing to 1: exact ``π_ref`` of an enumerated support, or ``1/N``.
    sampled : bool
        True for ``N`` draws from the base policy, False for an enumerated support.
    features : dict of str to ndarray (N,)
        Named per-outcome arrays (features, rewards, scores).
    log_base : ndarray (N,) or None
        ``log π_ref(x_i)`` where known (needed by typicality raters even on a sampled pool).
    """

    base_weights: np.ndarray
    sampled: bool
    features: dict[str, np.ndarray] = field(default_factory=dict)
    log_base: np.ndarray | None = None

    def __post_init__(self) -> None:
        w = check_weights(self.base_weights, name="base_weights")
        n = len(w)
        feats = {}
        for name, arr in dict(self.features).items():
            a = np.asarray(arr)
            if a.ndim != 1 or len(a) != n:
                raise InputError(f"feature '{name}' has shape {a.shape} but base_weights has "
                                 f"{n} entries; every feature needs one value per outcome")
            feats[str(name)] = a
        lb = None
        if self.log_base is not None:
            lb = np.asarray(self.log_base, dtype=float)
            if lb.ndim != 1 or len(lb) != n:
                raise InputError(f"log_base has shape {lb.shape} but base_weights has {n} "
                                 "entries; pass one log-probability per outcome")
            if np.any(np.isnan(lb)) or np.any(lb == np.inf):
                raise InputError("log_base holds NaN or +inf; log-probabilities must be "
                                 "finite or -inf (zero probability)")
        object.__setattr__(self, "base_weights", w)
        object.__setattr__(self, "sampled", bool(self.sampled))
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "log_base", lb)

    @classmethod
    def from_probabilities(cls, p, *, features: Mapping[str, np.ndarray] | None = None,
                           log_base=None) -> WeightedPool:
        """An enumerated support with base probabilities ``p`` (summing to 1 within 1e-9).

        ``log_base`` defaults to ``log p``.
        """
        w = check_weights(p, name="p")
        if log_base is None:
            with np.errstate(divide="ignore"):
                log_base = np.log(w)
        return cls(w, False, dict(features or {}), log_base)

    @classmethod
    def from_samples(cls, n: int, *, features: Mapping[str, np.ndarray] | None = None,
                     log_base=None) -> WeightedPool:
        """``n`` draws from the base policy, each with weight ``1/n``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"n={n!r} must be a positive integer (the number of samples)")
        return cls(np.full(int(n), 1.0 / n), True, dict(features or {}), log_base)

    def __len__(self) -> int:
        return len(self.base_weights)

    def feature(self, name: str) -> np.ndarray:
        """The feature array ``name``; a clear error lists the available ones."""
        if name not in self.features:
            raise InputError(f"the pool has no feature '{name}'; available: "
                             f"{sorted(self.features)}")
        return self.features[name]

    def _w(self, weights) -> np.ndarray:
        if weights is None:
            return self.base_weights
        return check_weights(weights, name="weights", n=len(self))

    def _v(self, values) -> np.ndarray:
        if isinstance(values, str):
            values = self.feature(values)
        return _check_values(values, len(self))

    def mean(self, values, weights=None) -> float:
        """Weighted mean of ``values`` (an array or a feature name); base weights by default."""
        return float(self._v(values) @ self._w(weights))

    def var(self, values, weights=None) -> float:
        """Weighted variance of ``values`` (two-pass); base weights by default."""
        return _var(self._v(values), self._w(weights))

    def quantile(self, values, q: float, weights=None) -> float:
        """Weighted lower ``q``-quantile of ``values``; see :func:`weighted_quantile`."""
        if not 0.0 <= q <= 1.0:
            raise InputError(f"q={q!r} must lie in [0, 1]")
        return _quantile(self._v(values), q, self._w(weights))
