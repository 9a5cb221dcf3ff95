"""Reward models fitted to preference pairs with the Bradley-Terry loss.

Every model maps an outcome's features to a scalar score ``r(x)`` and is fitted by minimising
the Bradley-Terry negative log-likelihood ``-log sigma(r(a) - r(b))`` over pairs where ``a``
was preferred (Bradley & Terry 1952; the InstructGPT reward-model loss, Ouyang et al. 2022,
arXiv 2203.02155). Bradley-Terry fixes a reward only up to a constant, so every model centres
its scores to mean 0 over the training outcomes; members of an ensemble are then comparable.

* :class:`LinearRM` -- logistic regression on feature differences with an L2 penalty (scipy).
* :class:`MLPRM` -- a small torch MLP, Adam, early stopping on a validation split.
* :class:`Ensemble` -- members on bootstrap resamples, aggregated by mean, worst case (min) or
  mean minus lambda times std / variance (Coste et al. 2023, arXiv 2310.02743).

Common interface: ``fit(features_a, features_b, labels) -> self``, ``score(features)``, and
``heldout_accuracy`` (the share of held-out pairs whose preferred side scores higher; ties
count one half). Features are a mapping of name to (N,) arrays (``visible_features`` picks
the columns the model may see -- a misspecified model sees only some) or an (N, d) array.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from rewardshift._exceptions import InputError, MissingDependencyError

__all__ = ["Ensemble", "LinearRM", "MLPRM", "RewardModel", "aggregate_scores",
           "pairwise_accuracy"]

Features = Mapping[str, np.ndarray] | np.ndarray


def pairwise_accuracy(score_a: np.ndarray, score_b: np.ndarray, labels: np.ndarray) -> float:
    """Share of pairs whose preferred side scores higher (ties count 1/2); 0.5 is chance."""
    diff = np.sign(np.asarray(score_a) - np.asarray(score_b))
    sign = np.where(np.asarray(labels) == 1, 1.0, -1.0)
    return float(np.mean((diff * sign + 1) / 2))


def _n_rows(features: Features) -> int:
    if isinstance(features, np.ndarray):
        return len(features)
    return len(next(iter(features.values()))) if features else 0


def _take(features: Features, idx: np.ndarray) -> Features:
    if isinstance(features, np.ndarray):
        return features[idx]
    return {k: np.asarray(v)[idx] for k, v in features.items()}


def _check_pairs(features_a: Features, features_b: Features, labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels)
    n_a, n_b = _n_rows(features_a), _n_rows(features_b)
    if not n_a == n_b == len(y):
        raise InputError(f"fit needs one label per pair: got {n_a} rows of features_a, {n_b} of "
                         f"features_b and {len(y)} labels")
    if not np.isin(y, (0, 1)).all():
        raise InputError(f"labels must be 0/1 (1 when side a was preferred); got values "
                         f"{np.unique(y)[:5].tolist()}")
    if len(y) < 4:
        raise InputError(f"fit needs at least 4 pairs; got {len(y)}")
    return y.astype(float)


@dataclass
class RewardModel(abc.ABC):
    """Shared machinery: feature selection, held-out split, standardisation, centring."""

    visible_features: tuple[str, ...] | None = field(default=None, metadata={
        "help": "features the model sees (None: all); a misspecified RM sees only some"})
    heldout_fraction: float = field(default=0.2, metadata={
        "help": "share of pairs held out to report heldout_accuracy (0: none)"})
    seed: int = field(default=0, metadata={"help": "seed of the split and the fit"})

    def __post_init__(self) -> None:
        if not 0 <= self.heldout_fraction < 1:
            raise InputError(f"heldout_fraction={self.heldout_fraction!r} must be in [0, 1)")
        if self.visible_features is not None:
            self.visible_features = tuple(self.visible_features)
        self.heldout_accuracy = float("nan")
        self.names_: list[str] | None = None

    # -- features -----------------------------------------------------------------------
    def _matrix(self, features: Features) -> np.ndarray:
        """The (N, d) design matrix of the columns chosen at fit time (``names_``)."""
        if isinstance(features, np.ndarray):
            if self.names_ is not None or self.visible_features is not None:
                raise InputError("this model reads named features; pass a dict of arrays "
                                 "instead of an (N, d) array")
            return np.atleast_2d(np.asarray(features, dtype=float))
        if self.names_ is None:
            raise InputError("this model was fitted on an (N, d) array; score an array too")
        missing = [k for k in self.names_ if k not in features]
        if missing:
            raise InputError(f"reward model needs features {missing}; got {sorted(features)}")
        return np.column_stack([np.asarray(features[k], dtype=float) for k in self.names_])

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        perm = np.random.default_rng(self.seed).permutation(n)
        n_held = int(round(self.heldout_fraction * n))
        if self.heldout_fraction > 0 and (n_held < 1 or n - n_held < 2):
            raise InputError(f"{n} pairs are too few for heldout_fraction="
                             f"{self.heldout_fraction}; give more pairs or set it to 0")
        return perm[n_held:], perm[:n_held]

    # -- interface ----------------------------------------------------------------------
    def fit(self, features_a: Features, features_b: Features, labels: np.ndarray
            ) -> RewardModel:
        """Fit on pairs (``labels[i] = 1`` when ``a[i]`` was preferred); returns ``self``."""
        y = _check_pairs(features_a, features_b, labels)
        self.names_ = None if isinstance(features_a, np.ndarray) else (
            list(self.visible_features) if self.visible_features is not None
            else list(features_a))
        xa, xb = self._matrix(features_a), self._matrix(features_b)
        train, held = self._split(len(y))
        both = np.vstack([xa[train], xb[train]])
        self.mean_ = both.mean(axis=0)
        self.scale_ = np.where(both.std(axis=0) > 0, both.std(axis=0), 1.0)
        za, zb = (xa - self.mean_) / self.scale_, (xb - self.mean_) / self.scale_
        self._fit(za[train], zb[train], y[train])
        self.offset_ = 0.0
        self.offset_ = float(np.mean(self._raw(np.vstack([za[train], zb[train]]))))
        if len(held):
            self.heldout_accuracy = pairwise_accuracy(self._raw(za[held]), self._raw(zb[held]),
                                                      y[held])
        return self

    def score(self, features: Features) -> np.ndarray:
        """Reward of each outcome, (N,), centred to mean 0 over the training outcomes."""
        if not hasattr(self, "offset_"):
            raise InputError(f"{type(self).__name__} is not fitted; call fit(...) first")
        z = (self._matrix(features) - self.mean_) / self.scale_
        return self._raw(z) - self.offset_

    @abc.abstractmethod
    def _fit(self, za: np.ndarray, zb: np.ndarray, y: np.ndarray) -> None:
        """Fit on standardised features (the private half: inputs already checked)."""

    @abc.abstractmethod
    def _raw(self, z: np.ndarray) -> np.ndarray:
        """Uncentred score of standardised features."""


@dataclass
class LinearRM(RewardModel):
    """Linear reward ``r(x) = w . x``: L2-penalised logistic regression on ``x_a - x_b``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-(a - b) @ [2.0, -1.0]))).astype(int)
    >>> rm = LinearRM().fit(a, b, y)
    >>> np.round(rm.coef_ / np.linalg.norm(rm.coef_), 1)
    array([ 0.9, -0.4])
    """

    l2: float = field(default=1e-4, metadata={
        "help": "L2 penalty on standardised weights (per pair, mean loss)"})

    def _fit(self, za: np.ndarray, zb: np.ndarray, y: np.ndarray) -> None:
        d = za - zb
        sign = 2 * y - 1

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            m = sign * (d @ w)
            grad = -(d * (sign * expit(-m))[:, None]).mean(axis=0) + 2 * self.l2 * w
            return float(-log_expit(m).mean() + self.l2 * w @ w), grad

        res = minimize(loss, np.zeros(d.shape[1]), jac=True, method="L-BFGS-B")
        self.weights_ = res.x

    def _raw(self, z: np.ndarray) -> np.ndarray:
        return z @ self.weights_

    @property
    def coef_(self) -> np.ndarray:
        """Weights in the original feature units, in the order of ``names_``."""
        return self.weights_ / self.scale_


@dataclass
class MLPRM(RewardModel):
    """A small MLP reward (torch, CPU): Adam, early stopping on a validation split."""

    hidden: tuple[int, ...] = field(default=(32, 32), metadata={
        "help": "hidden layer widths: the model's capacity"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})
    batch_size: int = field(default=256, metadata={"help": "pairs per step"})
    max_epochs: int = field(default=100, metadata={"help": "upper bound on epochs"})
    patience: int = field(default=8, metadata={
        "help": "stop after this many epochs without validation improvement"})
    val_fraction: float = field(default=0.1, metadata={
        "help": "share of training pairs used for early stopping"})
    num_threads: int = field(default=1, metadata={
        "help": "torch threads while fitting; a net this small is fastest on one (OpenMP "
                "threads spin-wait on a busy machine: 2 threads ran 100x slower under load)"})

    def _fit(self, za: np.ndarray, zb: np.ndarray, y: np.ndarray) -> None:
        try:
            import torch
        except ImportError as e:  # pragma: no cover - torch is an extra
            raise MissingDependencyError("torch", "lm") from e
        saved = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            self._train(torch, za, zb, y)
        finally:
            torch.set_num_threads(saved)

    def _train(self, torch: ModuleType, za: np.ndarray, zb: np.ndarray, y: np.ndarray
               ) -> None:
        rng = np.random.default_rng(self.seed + 1)
        perm = rng.permutation(len(y))
        n_val = max(1, int(round(self.val_fraction * len(y))))
        val, tr = perm[:n_val], perm[n_val:]
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG left untouched
            torch.manual_seed(self.seed)
            layers: list[Any] = []  # torch.nn.Module (torch is imported lazily)
            width = za.shape[1]
            for h in self.hidden:
                layers += [torch.nn.Linear(width, h), torch.nn.SiLU()]
                width = h
            net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).double()
        ta, tb, ty = (torch.from_numpy(np.ascontiguousarray(v)) for v in (za, zb, y))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        best, best_state, stale = np.inf, None, 0
        for _ in range(self.max_epochs):
            net.train()
            order = rng.permutation(tr)
            for s in range(0, len(order), self.batch_size):
                idx = torch.from_numpy(order[s:s + self.batch_size])
                logit = (net(ta[idx]) - net(tb[idx])).squeeze(-1)
                loss = bce(logit, ty[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                vidx = torch.from_numpy(val)
                v = float(bce((net(ta[vidx]) - net(tb[vidx])).squeeze(-1), ty[vidx]))
            if v < best - 1e-5:
                best, stale = v, 0
                best_state = {k: t.clone() for k, t in net.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self.net_ = net

    def _raw(self, z: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net_(torch.from_numpy(np.ascontiguousarray(z, dtype=float))
                             ).squeeze(-1).numpy()


Aggregation = Literal["mean", "min", "mean_minus_std", "mean_minus_var"]


@dataclass
class Ensemble:
    """An ensemble of reward models (Coste et al. 2023, arXiv 2310.02743).

    ``fit`` holds out ``heldout_fraction`` of the pairs, then trains every member on its own
    bootstrap resample of the rest (or on all of it, ``bootstrap=False``; give the members
    different seeds). ``score`` aggregates the members' centred scores:

    * ``"mean"``: the average;
    * ``"min"``: worst-case optimisation (WCO), the minimum over members;
    * ``"mean_minus_std"``: mean - lam * std across members;
    * ``"mean_minus_var"``: mean - lam * variance, Coste et al.'s uncertainty-weighted
      optimisation (UWO).
    """

    members: Sequence[RewardModel] = field(metadata={"help": "unfitted reward models"})
    aggregation: Aggregation = field(default="mean", metadata={
        "help": "mean | min | mean_minus_std | mean_minus_var"})
    lam: float = field(default=1.0, metadata={"help": "penalty on member disagreement"})
    bootstrap: bool = field(default=True, metadata={
        "help": "train each member on a bootstrap resample of the training pairs"})
    heldout_fraction: float = field(default=0.2, metadata={
        "help": "share of pairs held out from every member for heldout_accuracy"})
    seed: int = field(default=0, metadata={"help": "seed of the split and the resamples"})

    def __post_init__(self) -> None:
        if len(self.members) < 1:
            raise InputError("Ensemble needs at least one member, e.g. "
                             "members=[LinearRM(seed=i) for i in range(5)]")
        if self.aggregation not in ("mean", "min", "mean_minus_std", "mean_minus_var"):
            raise InputError(f"aggregation={self.aggregation!r} must be one of 'mean', 'min', "
                             "'mean_minus_std', 'mean_minus_var'")
        if self.lam < 0:
            raise InputError(f"lam={self.lam!r} must be >= 0")
        if not 0 <= self.heldout_fraction < 1:
            raise InputError(f"heldout_fraction={self.heldout_fraction!r} must be in [0, 1)")
        self.heldout_accuracy = float("nan")

    def fit(self, features_a: Features, features_b: Features, labels: np.ndarray) -> Ensemble:
        """Fit every member (see the class docstring); returns ``self``."""
        y = _check_pairs(features_a, features_b, labels)
        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(len(y))
        n_held = int(round(self.heldout_fraction * len(y)))
        held, train = perm[:n_held], perm[n_held:]
        for m in self.members:
            idx = rng.choice(train, size=len(train)) if self.bootstrap else train
            m.fit(_take(features_a, idx), _take(features_b, idx), y[idx])
        self._fitted = True
        if n_held:
            self.heldout_accuracy = pairwise_accuracy(
                self.score(_take(features_a, held)), self.score(_take(features_b, held)),
                y[held])
        return self

    def member_scores(self, features: Features) -> np.ndarray:
        """Centred scores of every member, shape (n_members, N)."""
        return np.stack([m.score(features) for m in self.members])

    def score(self, features: Features) -> np.ndarray:
        """Aggregated reward of each outcome, (N,)."""
        return aggregate_scores(self.member_scores(features), self.aggregation, lam=self.lam)


def aggregate_scores(member_scores: np.ndarray, aggregation: str = "mean", *,
                     lam: float = 1.0) -> np.ndarray:
    """Combine the scores of an ensemble's members, shape (K, N) → (N,).

    ``mean``; ``min`` (worst-case optimisation); ``mean_minus_std`` and ``mean_minus_var``
    (uncertainty-weighted optimisation, ``mean − λ·std`` / ``mean − λ·var``): Coste, Anwar,
    Kirk & Krueger 2023, "Reward Model Ensembles Help Mitigate Overoptimization",
    arXiv 2310.02743, §3.
    """
    s = np.asarray(member_scores, dtype=float)
    if s.ndim != 2:
        raise InputError(f"member_scores must be (n_members, N), got shape {s.shape}")
    if aggregation == "mean":
        return s.mean(axis=0)
    if aggregation == "min":
        return s.min(axis=0)
    if aggregation == "mean_minus_std":
        return s.mean(axis=0) - lam * s.std(axis=0)
    if aggregation == "mean_minus_var":
        return s.mean(axis=0) - lam * s.var(axis=0)
    raise InputError(f"aggregation={aggregation!r}; use mean, min, mean_minus_std or "
                     "mean_minus_var")
