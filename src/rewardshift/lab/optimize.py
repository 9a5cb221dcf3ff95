"""Closed-form optimisers on a weighted pool: KL-regularised tilt and best-of-n.

Every optimiser here is a re-weighting of a :class:`~rewardshift.lab.pool.WeightedPool`
(DESIGN.md, "weighted pool"): it returns new weights over the same outcomes, or, in a sweep,
the quantities that follow from them — KL to the base, effective sample size, and the
expectation of any per-outcome function (proxy reward, gold reward, features) — without ever
materialising a (sweep points × outcomes) matrix. All work is vectorised numpy, O(N) per sweep
point after one sort.

* :func:`tilt`, :func:`tilt_sweep` — ``π_β(x) ∝ π_ref(x) exp(r(x)/β)``, the optimum of
  ``E_π[r] − β KL(π‖π_ref)`` (Ziegler et al. 2019; Rafailov et al. 2023, eq. 4).
* :func:`best_of_n_exact`, :func:`best_of_n_exact_sweep` — the exact distribution of the
  best of ``n`` independent base draws on a finite support, ties split evenly.
* :func:`best_of_n_weights`, :func:`best_of_n_sweep` — the unbiased order-statistic estimator
  of best-of-n from a pool of ``N ≥ n`` base samples.
* :func:`bon_kl_bound` — ``log n − (n−1)/n``.
* :func:`bon_grid` — the documented grid of ``n`` on which sweeps are evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from rewardshift._exceptions import InputError
from rewardshift.lab.pool import WeightedPool, check_weights

__all__ = [
    "BonSweep",
    "TiltSweep",
    "best_of_n_exact",
    "best_of_n_exact_sweep",
    "best_of_n_sweep",
    "best_of_n_weights",
    "bon_grid",
    "bon_kl_bound",
    "tilt",
    "tilt_sweep",
]

#: Default minimum effective sample size for a re-weighting of a *sampled* pool to be trusted.
MIN_ESS = 100.0

#: Best-of-n sweeps skip the lowest outcomes whose total best-of-n mass is provably below
#: ``exp(-LOG_TAIL)`` (≈ 4e-18); see :func:`best_of_n_sweep`.
LOG_TAIL = 40.0


# --------------------------------------------------------------------------- validation


def _resolve(pool_or_weights, reward, sampled: bool | None
             ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Base weights, reward and the sampled flag from a pool or a weight vector."""
    if isinstance(pool_or_weights, WeightedPool):
        w = pool_or_weights.base_weights
        is_sampled = pool_or_weights.sampled if sampled is None else bool(sampled)
    else:
        w = check_weights(pool_or_weights, name="weights")
        # equal weights are what a pool drawn from the base looks like: be conservative
        is_sampled = bool(np.all(w == w[0])) if sampled is None else bool(sampled)
    r = _check_function(reward, len(w), "reward")
    return w, r, is_sampled


def _check_function(values, n: int, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) != n:
        raise InputError(f"{name} has shape {v.shape}; expected ({n},), one value per outcome "
                         "of the pool")
    if not np.all(np.isfinite(v)):
        bad = int(np.flatnonzero(~np.isfinite(v))[0])
        raise InputError(f"{name}[{bad}]={float(v[bad])!r} is not finite; pass finite values")
    return v


def _check_functions(functions: Mapping[str, np.ndarray] | None, n: int
                     ) -> dict[str, np.ndarray]:
    return {str(k): _check_function(v, n, f"functions['{k}']")
            for k, v in dict(functions or {}).items()}


def _check_beta(beta) -> float:
    b = float(beta)
    if not b > 0:  # also rejects NaN
        raise InputError(f"beta={beta!r} must be > 0 (the KL strength; larger stays closer "
                         "to the base; use np.inf for the base itself)")
    return b


def _check_ns(ns, n_max: int | None) -> np.ndarray:
    a = np.atleast_1d(np.asarray(ns))
    if a.ndim != 1 or len(a) == 0 or not np.issubdtype(a.dtype, np.number) \
            or np.any(a != np.round(a)) or np.any(a < 1):
        raise InputError(f"ns={ns!r} must be a non-empty 1-D list of integers >= 1")
    a = a.astype(np.int64)
    if n_max is not None and a.max() > n_max:
        raise InputError(f"n={int(a.max())} exceeds the pool size N={n_max}: the unbiased "
                         "best-of-n estimator needs N >= n samples; draw a larger pool or "
                         "use a smaller n")
    return a


def _low_ess_message(beta: float, ess: float, min_ess: float, n: int) -> str:
    return (f"too few effective samples to trust: at beta={beta:.4g} the tilted weights of "
            f"the sampled pool (N={n}) have ESS={ess:.1f} < min_ess={min_ess:g}. Use a larger "
            "pool or a larger beta (or pass allow_low_ess=True to get flagged results)")


# --------------------------------------------------------------------------- KL tilt


def tilt(pool_or_weights, reward, *, beta: float, min_ess: float | None = None,
         sampled: bool | None = None) -> np.ndarray:
    """The KL-regularised optimum ``π_β(x) ∝ π_ref(x) · exp(r(x)/β)`` over the pool.

    Parameters
    ----------
    pool_or_weights : WeightedPool or array (N,)
        The pool, or its base weights (probabilities summing to 1).
    reward : array (N,)
        Reward of each outcome.
    beta : float > 0
        KL strength; ``β → ∞`` returns the base, ``β → 0`` the arg-max of the reward.
    min_ess : float, optional
        When given and the pool is sampled, raise :class:`InputError` if the effective sample
        size ``1/Σπ²`` falls below it. Default: no check (see :func:`tilt_sweep`).
    sampled : bool, optional
        Overrides the pool's flag; for a bare weight vector, equal weights count as sampled.

    Returns
    -------
    ndarray (N,)
        Tilted probabilities, summing to 1.

    Notes
    -----
    The maximiser of ``E_π[r] − β KL(π‖π_ref)`` (Rafailov et al. 2023, arXiv 2305.18290,
    eq. 4). Computed in log space: ``log π = log π_ref + r/β − logsumexp(log π_ref + r/β)``.

    Examples
    --------
    >>> tilt([0.5, 0.5], [0.0, np.log(3.0)], beta=1.0)
    array([0.25, 0.75])
    """
    w, r, is_sampled = _resolve(pool_or_weights, reward, sampled)
    b = _check_beta(beta)
    pi = _tilt(w, r, b)
    if min_ess is not None and is_sampled:
        ess = 1.0 / float(pi @ pi)
        if ess < min_ess:
            raise InputError(_low_ess_message(b, ess, min_ess, len(w)))
    return pi


def _tilt(w: np.ndarray, r: np.ndarray, beta: float) -> np.ndarray:
    """Tilted weights for clean inputs (w a probability vector, r finite, beta > 0)."""
    with np.errstate(divide="ignore"):
        logits = np.log(w) + r / beta
    logits -= logits.max()
    np.exp(logits, out=logits)
    return logits / logits.sum()


@dataclass(frozen=True)
class TiltSweep:
    """A β sweep of the KL tilt; arrays are aligned with ``betas``.

    Attributes
    ----------
    betas : ndarray (B,)
    kl : ndarray (B,)
        ``KL(π_β‖π_ref)`` in nats: exact on an enumerated support, the self-normalised
        estimate ``Σ π_i log(N π_i)`` on a sampled pool.
    ess : ndarray (B,)
        Kish effective sample size ``1/Σ π_i²`` (in outcomes; ``N`` at β = ∞ on a sampled pool).
    low_ess : ndarray of bool (B,)
        True where the pool is sampled and ``ess < min_ess`` (results not to be trusted).
    expectations : dict of str to ndarray (B,)
        ``E_{π_β}[f]`` of each function passed.
    reward_mean : ndarray (B,)
        ``E_{π_β}[r]`` of the reward tilted on.
    sampled : bool
    min_ess : float
    """

    betas: np.ndarray
    kl: np.ndarray
    ess: np.ndarray
    low_ess: np.ndarray
    expectations: dict[str, np.ndarray]
    reward_mean: np.ndarray
    sampled: bool
    min_ess: float

    def to_records(self) -> list[dict[str, float]]:
        """One flat record per β (for ``metrics.jsonl``)."""
        return [{"beta": float(b), "kl": float(k), "d": float(np.sqrt(max(k, 0.0))),
                 "ess": float(e), "low_ess": bool(lo), "reward": float(rm),
                 **{f: float(v[i]) for f, v in self.expectations.items()}}
                for i, (b, k, e, lo, rm) in enumerate(zip(self.betas, self.kl, self.ess,
                                                         self.low_ess, self.reward_mean,
                                                         strict=True))]


def tilt_sweep(pool_or_weights, reward, betas: Sequence[float] | np.ndarray, *,
               functions: Mapping[str, np.ndarray] | None = None,
               sampled: bool | None = None, min_ess: float = MIN_ESS,
               allow_low_ess: bool = False) -> TiltSweep:
    """KL, effective sample size and expectations of ``π_β ∝ π_ref e^{r/β}`` for many β.

    Parameters
    ----------
    pool_or_weights : WeightedPool or array (N,)
        The pool or its base weights.
    reward : array (N,)
        The reward tilted on (e.g. the proxy / reward-model score).
    betas : sequence of float > 0, length B
    functions : dict of str to array (N,), optional
        Per-outcome functions whose expectation under each ``π_β`` is wanted (proxy, gold,
        features).
    sampled : bool, optional
        Overrides the pool's flag (for a bare weight vector, equal weights count as sampled).
    min_ess : float, default 100
        On a sampled pool, the smallest trusted Kish ESS.
    allow_low_ess : bool, default False
        False: raise :class:`InputError` at the first β whose ESS is below ``min_ess`` on a
        sampled pool. True: return every β and flag those in ``low_ess``.

    Returns
    -------
    TiltSweep

    Notes
    -----
    With ``r_c = r − E_ref[r]`` (KL is invariant to the shift), ``Z_β = Σ π_ref e^{r_c/β}``:

    * ``KL(π_β‖π_ref) = Σ π_β log(π_β/π_ref) = E_{π_β}[r_c]/β − log Z_β`` — exact on an
      enumerated support; on a sampled pool with ``π_ref = 1/N`` it is the self-normalised
      estimate ``Σ π_i log(N π_i)``;
    * ``ESS = (Σ ρ_i)² / Σ ρ_i² = 1/Σ π_i²`` (Kish 1965) for importance ratios ``ρ ∝ π_β/π_ref``
      on a sampled pool.

    Each β costs a handful of O(N) passes (one ``exp``, one matrix–vector product with the
    stacked functions); memory is O(N·(K+2)) for K functions, never O(B·N).
    """
    w, r, is_sampled = _resolve(pool_or_weights, reward, sampled)
    bs = np.atleast_1d(np.asarray(betas, dtype=float))
    if bs.ndim != 1 or len(bs) == 0:
        raise InputError(f"betas={betas!r} must be a non-empty 1-D list of floats > 0")
    for b in bs:
        _check_beta(b)
    funcs = _check_functions(functions, len(w))
    if not min_ess > 0:
        raise InputError(f"min_ess={min_ess!r} must be > 0")
    return _tilt_sweep(w, r, bs, funcs, is_sampled, float(min_ess), bool(allow_low_ess))


def _tilt_sweep(w: np.ndarray, r: np.ndarray, betas: np.ndarray,
                funcs: dict[str, np.ndarray], sampled: bool, min_ess: float,
                allow_low_ess: bool) -> TiltSweep:
    """:func:`tilt_sweep` on validated inputs."""
    n = len(w)
    uniform = bool(np.all(w == w[0]))
    keep = slice(None) if uniform else np.flatnonzero(w > 0)
    wk = w[keep]
    rc = r[keep] - float(r @ w)
    rows = np.vstack([rc, *(f[keep] for f in funcs.values())])  # (K+1, N')
    logw = None if uniform else np.log(wk)
    log_w0 = float(np.log(w[0])) if uniform else 0.0
    rmax = float(rc.max())
    buf = np.empty_like(rc)
    kl, ess, means = np.empty(len(betas)), np.empty(len(betas)), np.empty((len(betas),
                                                                           len(rows)))
    for j, beta in enumerate(betas):
        np.multiply(rc, 1.0 / beta, out=buf)
        if logw is None:
            m = rmax / beta
        else:
            buf += logw
            m = float(buf.max())
        buf -= m
        np.exp(buf, out=buf)  # ρ_i = π_ref,i e^{r_i/β} / e^{m}  (uniform: without π_ref)
        s = float(buf.sum())
        means[j] = (rows @ buf) / s
        ess[j] = s * s / float(buf @ buf)
        log_z = m + np.log(s) + log_w0
        kl[j] = means[j, 0] / beta - log_z if np.isfinite(beta) else 0.0
        if sampled and ess[j] < min_ess and not allow_low_ess:
            raise InputError(_low_ess_message(float(beta), float(ess[j]), min_ess, n))
    r_mean = means[:, 0] + float(r @ w)
    exps = {k: means[:, i + 1].copy() for i, k in enumerate(funcs)}
    low = (ess < min_ess) if sampled else np.zeros(len(betas), dtype=bool)
    return TiltSweep(betas.copy(), np.maximum(kl, 0.0), ess, low, exps, r_mean, sampled,
                     min_ess)


# --------------------------------------------------------------------------- best-of-n


def bon_kl_bound(n):
    """``KL(best-of-n ‖ base) = log n − (n−1)/n`` for a continuous (tie-free) reward.

    Stiennon et al. 2020 (arXiv 2009.01325, appendix) use it as the KL of best-of-n; Beirami
    et al. 2024 (arXiv 2401.01879, Theorem 1) prove it is an upper bound in general, attained
    when the reward has no ties; on a finite support with ties the exact KL is smaller.

    Examples
    --------
    >>> float(bon_kl_bound(1))
    0.0
    """
    a = np.asarray(n, dtype=float)
    if np.any(a < 1):
        raise InputError(f"n={n!r} must be >= 1")
    out = np.log(a) - (a - 1.0) / a
    return float(out) if out.ndim == 0 else out


def bon_grid(n_max: int, *, points: int = 200) -> np.ndarray:
    """The grid of ``n`` a best-of-n sweep is evaluated on: ``unique(round(geomspace(1,
    n_max, points)))``.

    Every integer up to about ``points / ln(n_max)`` (all n ≤ 21 for 200 points and
    ``n_max = 10^4``), then log-spaced (≈ 50 points per decade); 169 values for ``n_max =
    10^4``. Expectations are smooth in ``log n``, so :meth:`BonSweep.interpolate` between grid
    points is accurate (``benchmarks/bench_pool.py`` measures the error against direct
    evaluation at off-grid ``n``).
    """
    if int(n_max) < 1 or int(points) < 2:
        raise InputError(f"n_max={n_max!r} must be >= 1 and points={points!r} >= 2")
    return np.unique(np.round(np.geomspace(1, int(n_max), int(points))).astype(np.int64))


@dataclass(frozen=True)
class BonSweep:
    """A best-of-n sweep; arrays are aligned with ``ns``.

    Attributes
    ----------
    ns : ndarray of int (M,)
    kl : ndarray (M,)
        Exact ``KL(p_n‖π_ref)`` on the (enumerated or empirical) support, ties accounted for.
    kl_bound : ndarray (M,)
        ``log n − (n−1)/n``.
    ess : ndarray (M,)
        Kish effective sample size ``1/Σ w_i²`` of the best-of-n weights.
    expectations : dict of str to ndarray (M,)
        ``E_{best-of-n}[f]`` of each function passed.
    exact : bool
        True: exact distribution on an enumerated support; False: unbiased estimator from a
        pool of base samples.
    """

    ns: np.ndarray
    kl: np.ndarray
    kl_bound: np.ndarray
    ess: np.ndarray
    expectations: dict[str, np.ndarray]
    exact: bool

    def interpolate(self, name: str, n) -> np.ndarray:
        """``E_n[name]`` at any ``n`` in range, linear in ``log n`` between grid points."""
        if name not in self.expectations:
            raise InputError(f"no expectation '{name}'; available: {sorted(self.expectations)}")
        order = np.argsort(self.ns)
        return np.interp(np.log(np.asarray(n, dtype=float)), np.log(self.ns[order]),
                         self.expectations[name][order])

    def to_records(self) -> list[dict[str, float]]:
        """One flat record per ``n`` (for ``metrics.jsonl``)."""
        return [{"n": int(n), "kl": float(k), "kl_bound": float(kb),
                 "d": float(np.sqrt(max(k, 0.0))), "ess": float(e),
                 **{f: float(v[i]) for f, v in self.expectations.items()}}
                for i, (n, k, kb, e) in enumerate(zip(self.ns, self.kl, self.kl_bound,
                                                      self.ess, strict=True))]


@dataclass(frozen=True)
class _Blocks:
    """Outcomes sorted by proxy (ascending, stable) and grouped into blocks of equal proxy."""

    order: np.ndarray  # (N,) argsort of the proxy
    starts: np.ndarray  # (B,) first sorted position of each block
    mass: np.ndarray  # (B,) base mass p_b of each block
    log_cdf: np.ndarray  # (B,) log F_b, F_b = base mass of blocks ≤ b
    log_step: np.ndarray  # (B,) log(F_{b-1}/F_b) = log1p(-p_b/F_b)
    sq_share: np.ndarray  # (B,) Σ_{i∈b} p_i² / p_b²


def _blocks(w: np.ndarray, proxy: np.ndarray, order: np.ndarray | None = None) -> _Blocks:
    if order is None:
        order = np.argsort(proxy, kind="stable")
    ps = proxy[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ws = w[order]
    mass = np.add.reduceat(ws, starts)
    mass = mass / mass.sum()
    tail = np.r_[np.cumsum(mass[::-1])[::-1][1:], 0.0]  # G_b: mass strictly above block b
    with np.errstate(divide="ignore"):
        log_cdf = np.log1p(-np.minimum(tail, 1.0))
        cdf = 1.0 - tail
        log_step = np.log1p(-np.minimum(np.divide(mass, cdf, out=np.ones_like(mass),
                                                  where=cdf > 0), 1.0))
        sq = np.add.reduceat(ws * ws, starts) / (np.add.reduceat(ws, starts) ** 2)
    return _Blocks(order, starts, mass, log_cdf, log_step, np.nan_to_num(sq))


def _block_probs(bl: _Blocks, n: int) -> tuple[int, np.ndarray]:
    """``P_n(b) = F_b^n − F_{b−1}^n`` for blocks ``b ≥ j0`` (all lower ones hold < e^-40).

    ``Σ_{b<j0} P_n(b) = F_{j0−1}^n < exp(−LOG_TAIL)`` by telescoping, with
    ``j0 = min{b : n log F_b ≥ −LOG_TAIL}``. Stable form: ``F_b^n · (−expm1(n log(F_{b−1}/F_b)))``.
    """
    j0 = int(np.searchsorted(bl.log_cdf, -LOG_TAIL / n, side="left"))
    with np.errstate(invalid="ignore"):
        p = np.exp(n * bl.log_cdf[j0:]) * -np.expm1(n * bl.log_step[j0:])
    p[~(p > 0)] = 0.0  # exp(-inf)·... = nan on blocks of zero mass
    return j0, p


def _bon_kl(bl: _Blocks, j0: int, p: np.ndarray) -> float:
    """``Σ_b P_n(b) log(P_n(b)/p_b)``: the exact KL, the ratio being constant in a block."""
    m = bl.mass[j0:]
    ok = (p > 0) & (m > 0)
    return float(np.sum(p[ok] * np.log(p[ok] / m[ok])))


def best_of_n_exact(pool_or_weights, proxy, n: int) -> np.ndarray:
    """Exact distribution of the best of ``n`` independent base draws, ties split evenly.

    Parameters
    ----------
    pool_or_weights : WeightedPool or array (N,)
        An enumerated support and its base probabilities.
    proxy : array (N,)
        The score the best is chosen by.
    n : int >= 1

    Returns
    -------
    ndarray (N,)
        ``P(best-of-n = x)``, summing to 1.

    Notes
    -----
    Sort outcomes by proxy into blocks of equal score; ``F_b`` is the base mass of the blocks
    up to ``b``. The best of ``n`` draws lands in block ``b`` with probability
    ``F_b^n − F_{b−1}^n`` (order statistics; e.g. David & Nagaraja 2003, eq. 2.1.1), and ties
    broken uniformly at random split it over the block in proportion to base mass:
    ``P(x) = (F_b^n − F_{b−1}^n) · π_ref(x) / p_b``.

    Examples
    --------
    >>> best_of_n_exact([0.5, 0.5], [0.0, 1.0], 2)
    array([0.25, 0.75])
    """
    w, r, _ = _resolve(pool_or_weights, proxy, False)
    k = int(_check_ns([n], None)[0])
    bl = _blocks(w, r)
    with np.errstate(invalid="ignore"):
        pb = np.nan_to_num(np.exp(k * bl.log_cdf) * -np.expm1(k * bl.log_step))
    sizes = np.diff(np.r_[bl.starts, len(w)])
    ws = w[bl.order]
    share = np.divide(ws, np.repeat(np.add.reduceat(ws, bl.starts), sizes),
                      out=np.zeros_like(ws), where=ws > 0)
    out = np.empty_like(w)
    out[bl.order] = np.repeat(pb, sizes) * share
    return out


def best_of_n_exact_sweep(pool_or_weights, proxy, ns, *,
                          functions: Mapping[str, np.ndarray] | None = None) -> BonSweep:
    """Exact best-of-n on an enumerated support for many ``n``: KL, ESS and expectations.

    ``E_n[f] = Σ_b P_n(b) · f̄_b`` with ``f̄_b`` the base-weighted mean of ``f`` over block
    ``b`` (see :func:`best_of_n_exact`); ``KL = Σ_b P_n(b) log(P_n(b)/p_b)`` exactly. The
    blocks below ``j0`` (total mass < e^-40) are skipped, so large ``n`` cost only the top of
    the support.
    """
    w, r, _ = _resolve(pool_or_weights, proxy, False)
    k = _check_ns(ns, None)
    funcs = _check_functions(functions, len(w))
    return _bon_exact_sweep(w, r, k, funcs)


def _block_means(bl: _Blocks, w: np.ndarray, funcs: dict[str, np.ndarray]) -> np.ndarray:
    """(K, B) base-weighted mean of each function over each block."""
    ws = w[bl.order]
    den = np.add.reduceat(ws, bl.starts)
    out = np.zeros((len(funcs), len(bl.starts)))
    for i, f in enumerate(funcs.values()):
        np.divide(np.add.reduceat(ws * f[bl.order], bl.starts), den, out=out[i],
                  where=den > 0)
    return out


def _bon_exact_sweep(w, r, ns, funcs) -> BonSweep:
    bl = _blocks(w, r)
    fbar = _block_means(bl, w, funcs)
    kl, ess, means = np.empty(len(ns)), np.empty(len(ns)), np.empty((len(ns), len(funcs)))
    for j, n in enumerate(ns):
        j0, p = _block_probs(bl, int(n))
        s = p.sum()
        means[j] = fbar[:, j0:] @ p / s
        kl[j] = _bon_kl(bl, j0, p)
        ess[j] = 1.0 / float((p * p) @ bl.sq_share[j0:] / (s * s))
    return BonSweep(ns.copy(), np.maximum(kl, 0.0), np.asarray(bon_kl_bound(ns.astype(float))),
                    ess, {k: means[:, i].copy() for i, k in enumerate(funcs)}, True)


def _log_factorials(n: int) -> np.ndarray:
    """``L[k] = log k!`` for ``k = 0..n`` (``gammaln(k+1)``)."""
    return gammaln(np.arange(n + 1, dtype=float) + 1.0)


def best_of_n_weights(proxy, n: int) -> np.ndarray:
    """Unbiased best-of-n weights for a pool of ``N ≥ n`` equally weighted base samples.

    Parameters
    ----------
    proxy : array (N,)
        The score of each pooled sample.
    n : int, 1 <= n <= N

    Returns
    -------
    ndarray (N,)
        Weights summing to 1: ``Σ_i w_i f(x_i)`` is an unbiased estimate of
        ``E[f(best of n base draws)]``.

    Notes
    -----
    Choosing ``n`` of the ``N`` samples uniformly without replacement, the ``i``-th smallest
    (1-indexed) is the maximum of the subset with probability ``C(i−1, n−1) / C(N, n)``; the
    estimator averages over all ``C(N, n)`` subsets, so it is the U-statistic of the max
    (Nakano et al. 2021, arXiv 2112.09332, appendix; Gao et al. 2022, arXiv 2210.10760,
    appendix on the unbiased best-of-n estimator). Computed as ``exp(L[i−1] − L[i−n] −
    L[n−1] − log C(N, n))`` with ``L[k] = log k! = gammaln(k + 1)`` (relative accuracy about
    ``1e-16 · log N!``, i.e. ~1e-9 at ``N = 10^6``; the weights are renormalised). Ties in the proxy are broken uniformly at
    random, i.e. the weights are averaged within each block of equal score.

    Examples
    --------
    >>> best_of_n_weights([3.0, 1.0, 2.0], 2)
    array([0.66666667, 0.        , 0.33333333])
    """
    r = _check_function(proxy, len(np.atleast_1d(proxy)), "proxy")
    k = int(_check_ns([n], len(r))[0])
    big_n = len(r)
    lf = _log_factorials(big_n)
    i = np.arange(k, big_n + 1)
    logw = lf[i - 1] - lf[i - k] - lf[k - 1] - (lf[big_n] - lf[k] - lf[big_n - k])
    ws = np.zeros(big_n)
    ws[k - 1:] = np.exp(logw)
    ws /= ws.sum()  # sums to 1 analytically; removes the rounding of the log-factorials
    bl = _blocks(np.full(big_n, 1.0 / big_n), r)
    sizes = np.diff(np.r_[bl.starts, big_n])
    ws = np.repeat(np.add.reduceat(ws, bl.starts) / sizes, sizes)
    out = np.empty(big_n)
    out[bl.order] = ws
    return out


def best_of_n_sweep(proxy, ns, *, functions: Mapping[str, np.ndarray] | None = None
                    ) -> BonSweep:
    """Unbiased best-of-n estimates from a pool of base samples for many ``n``.

    Parameters
    ----------
    proxy : array (N,)
        Score of each of ``N`` equally weighted base samples.
    ns : sequence of int, each ``1 <= n <= N``
        The ``n`` to evaluate; :func:`bon_grid` gives the documented default grid (evaluate
        there and :meth:`BonSweep.interpolate` in between rather than at every integer).
    functions : dict of str to array (N,), optional
        Per-sample functions whose best-of-n expectation is wanted.

    Returns
    -------
    BonSweep
        ``exact=False``. ``kl``: when the proxy has no ties in the pool it is taken to be
        continuous and ``kl = log n − (n−1)/n``, exact for a continuous score (the KL depends
        only on the score's CDF); with ties it is the exact KL of best-of-n on the pool's
        empirical distribution (blocks of equal score), below the bound.

    Notes
    -----
    ``E_n[f] = Σ_i f_(i) C(i−1, n−1)/C(N, n)`` (see :func:`best_of_n_weights`). Evaluating it
    for every ``n ≤ 10^4`` over ``N = 10^6`` is a 10^4 × 10^6 product; instead each grid point
    costs O(N − j0) after one sort: the lowest ``j0 = ⌊N e^{−LOG_TAIL/n}⌋`` samples are skipped,
    because by the hockey-stick identity their total weight is ``C(j0, n)/C(N, n) ≤ (j0/N)^n
    ≤ e^{−40}``. Small ``n`` use the whole pool; ``n = 10^4`` only its top 0.4%.
    """
    r = _check_function(proxy, len(np.atleast_1d(proxy)), "proxy")
    k = _check_ns(ns, len(r))
    funcs = _check_functions(functions, len(r))
    return _bon_sweep(r, k, funcs)


def _bon_sweep(r: np.ndarray, ns: np.ndarray, funcs: dict[str, np.ndarray]) -> BonSweep:
    big_n = len(r)
    order = np.argsort(r, kind="stable")
    rs = r[order]
    ties = bool(np.any(rs[1:] == rs[:-1]))
    if ties:  # functions in sorted order, averaged within tie blocks (ties broken at random)
        w = np.full(big_n, 1.0 / big_n)
        bl = _blocks(w, r, order)
        sizes = np.diff(np.r_[bl.starts, big_n])
        fs = np.repeat(_block_means(bl, w, funcs), sizes, axis=1)
    else:
        fs = np.vstack([f[order] for f in funcs.values()]) if funcs else np.zeros((0, big_n))
    lf = _log_factorials(big_n)
    kl, ess, means = np.empty(len(ns)), np.empty(len(ns)), np.empty((len(ns), len(funcs)))
    for j, n in enumerate(ns):
        n = int(n)
        lo = max(n, int(np.floor(big_n * np.exp(-LOG_TAIL / n))) + 1)  # 1-indexed first i
        logw = lf[lo - 1:big_n] - lf[lo - n:big_n - n + 1]
        logw += -lf[n - 1] - (lf[big_n] - lf[n] - lf[big_n - n])
        wt = np.exp(logw, out=logw)
        s = float(wt.sum())
        means[j] = fs[:, lo - 1:] @ wt / s
        ess[j] = s * s / float(wt @ wt)
        if ties:
            j0, p = _block_probs(bl, n)
            kl[j] = _bon_kl(bl, j0, p)
    bound = np.asarray(bon_kl_bound(ns.astype(float)))
    if not ties:  # a tie-free proxy: the base's KL is exactly the continuous value
        kl = bound.copy()
    return BonSweep(ns.copy(), np.maximum(kl, 0.0), bound, ess,
                    {k: means[:, i].copy() for i, k in enumerate(funcs)}, False)
