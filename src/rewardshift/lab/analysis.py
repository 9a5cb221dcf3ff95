"""Analyses of a tuned policy: over-optimisation fits, per-axis bias shift, lost edge cases.

* :func:`fit_bon`, :func:`fit_rl` — gold reward against ``d = sqrt(KL)`` with the functional
  forms of Gao, Schulman & Hilton 2022 (arXiv 2210.10760, eqs. 1–2), their 95% confidence
  intervals and the peak ``(d*, R*)`` where gold turns down.
* :func:`bias_shift` — per feature axis: mean and variance under base and tuned policy, the
  shift toward the raters' iconic point, and the error against the ground truth split into
  base bias, reward-induced shift and variance; :func:`describe_bias_shift` says it in words.
* :func:`edge_cases` — the mass and recall of the ground truth's rare outcomes before and
  after tuning.

All take arrays or a :class:`~rewardshift.lab.pool.WeightedPool` and return dataclasses or
JSON-ready records (plain floats), so a run's ``summary.json`` can hold them directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.lab.pool import WeightedPool, _quantile, _var, check_weights
from rewardshift.metrics.stats import bootstrap_ci

__all__ = ["Fit", "bias_shift", "describe_bias_shift", "edge_cases", "fit_bon", "fit_rl"]

FitKind = Literal["bon", "rl"]


# --------------------------------------------------------------------------- over-optimisation


@dataclass(frozen=True)
class Fit:
    """A least-squares fit of gold reward against ``d = sqrt(KL)`` (Gao et al. 2022).

    Attributes
    ----------
    kind : {"bon", "rl"}
        ``"bon"``: ``R(d) = d(α − β d)``; ``"rl"``: ``R(d) = d(α − β log d)``.
    alpha, beta : float
        Fitted coefficients.
    alpha_ci, beta_ci : (float, float)
        Confidence intervals at ``level``.
    d_star, r_star : float
        The peak of the fitted curve (``inf`` when ``β ≤ 0``: no turn-over).
    d_star_ci, r_star_ci : (float, float)
        Their confidence intervals (delta method or bootstrap, see ``ci_method``).
    cov : ndarray (2, 2)
        Covariance of ``(α, β)``: ``s² (XᵀX)⁻¹``.
    residual_sd : float
        ``s = sqrt(RSS / (m − 2))``.
    n_points : int
    level : float
    ci_method : {"delta", "bootstrap"}
    """

    kind: FitKind
    alpha: float
    beta: float
    alpha_ci: tuple[float, float]
    beta_ci: tuple[float, float]
    d_star: float
    r_star: float
    d_star_ci: tuple[float, float]
    r_star_ci: tuple[float, float]
    cov: np.ndarray
    residual_sd: float
    n_points: int
    level: float
    ci_method: str

    def predict(self, d) -> np.ndarray:
        """The fitted gold reward at ``d`` (array or scalar, ``d ≥ 0``)."""
        d = np.asarray(d, dtype=float)
        return _design(d, self.kind) @ np.array([self.alpha, self.beta])

    __call__ = predict

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: non-finite numbers become ``None``."""

        def num(x):
            return float(x) if math.isfinite(x) else None

        return {"kind": self.kind, "formula": _FORMULA[self.kind],
                "alpha": num(self.alpha), "beta": num(self.beta),
                "alpha_ci": [num(x) for x in self.alpha_ci],
                "beta_ci": [num(x) for x in self.beta_ci],
                "d_star": num(self.d_star), "r_star": num(self.r_star),
                "d_star_ci": [num(x) for x in self.d_star_ci],
                "r_star_ci": [num(x) for x in self.r_star_ci],
                "residual_sd": num(self.residual_sd), "n_points": self.n_points,
                "level": self.level, "ci_method": self.ci_method}


_FORMULA = {"bon": "R(d) = d (alpha - beta d)", "rl": "R(d) = d (alpha - beta log d)"}


def _design(d: np.ndarray, kind: str) -> np.ndarray:
    """(m, 2) design matrix: R = α·d − β·g(d), g = d² (bon) or d log d (rl, 0 at d = 0)."""
    if kind == "bon":
        g = d * d
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)
    return np.stack([d, -g], axis=-1)


def _peak(alpha: float, beta: float, kind: str) -> tuple[float, float]:
    if not beta > 0:
        return math.inf, math.inf
    if kind == "bon":
        return alpha / (2 * beta), alpha * alpha / (4 * beta)
    e = alpha / beta - 1.0
    if e > 700:
        return math.inf, math.inf
    d = math.exp(e)
    return d, beta * d


def _peak_grad(alpha: float, beta: float, kind: str) -> np.ndarray:
    """(2, 2) Jacobian of (d*, R*) with respect to (α, β)."""
    if kind == "bon":
        return np.array([[1 / (2 * beta), -alpha / (2 * beta ** 2)],
                         [alpha / (2 * beta), -alpha ** 2 / (4 * beta ** 2)]])
    d = math.exp(alpha / beta - 1.0)
    return np.array([[d / beta, -d * alpha / beta ** 2],
                     [d, d - d * alpha / beta]])


def fit_bon(d, gold, *, level: float = 0.95, ci: str = "delta", n_boot: int = 2000,
            seed: int = 0) -> Fit:
    """Fit best-of-n gold reward ``R(d) = d(α − β d)`` with ``d = sqrt(KL)``.

    Parameters
    ----------
    d : array (m,), ``d ≥ 0``
        ``sqrt(KL(π‖π_ref))`` of each point.
    gold : array (m,)
        Gold reward gain over the base at each point (``R(0) = 0``, so no intercept).
    level : float, default 0.95
    ci : {"delta", "bootstrap"}, default "delta"
        ``"delta"``: t-intervals for ``(α, β)`` from ``s²(XᵀX)⁻¹`` and the delta method for the
        peak; ``"bootstrap"``: percentile intervals of ``n_boot`` resamples of the points.
    n_boot : int, default 2000
    seed : int, default 0
        Seed of the bootstrap.

    Returns
    -------
    Fit
        With the peak ``d* = α/(2β)``, ``R* = α²/(4β)`` (where ``dR/dd = 0``).

    Notes
    -----
    Gao, Schulman & Hilton 2022 (arXiv 2210.10760), eq. 1. The model is linear in
    ``(α, β)``: ordinary least squares on the columns ``(d, −d²)``.

    Examples
    --------
    >>> d = np.linspace(0.1, 3, 10)
    >>> f = fit_bon(d, d * (1.0 - 0.25 * d))
    >>> round(f.alpha, 6), round(f.beta, 6), round(f.d_star, 6)
    (1.0, 0.25, 2.0)
    """
    return _fit_public(d, gold, "bon", level, ci, n_boot, seed)


def fit_rl(d, gold, *, level: float = 0.95, ci: str = "delta", n_boot: int = 2000,
           seed: int = 0) -> Fit:
    """Fit RL (KL-tilt) gold reward ``R(d) = d(α − β log d)`` with ``d = sqrt(KL)``.

    Parameters and confidence intervals as :func:`fit_bon`.

    Returns
    -------
    Fit
        With the peak ``d* = exp(α/β − 1)``, ``R* = β d*`` (``dR/dd = α − β log d − β = 0``).

    Notes
    -----
    Gao, Schulman & Hilton 2022 (arXiv 2210.10760), eq. 2; linear in ``(α, β)`` on the
    columns ``(d, −d log d)`` (``d log d → 0`` at ``d = 0``).
    """
    return _fit_public(d, gold, "rl", level, ci, n_boot, seed)


def _fit_public(d, gold, kind, level, ci, n_boot, seed) -> Fit:
    dd = np.asarray(d, dtype=float)
    gg = np.asarray(gold, dtype=float)
    if dd.ndim != 1 or gg.shape != dd.shape:
        raise InputError(f"d has shape {dd.shape} and gold {gg.shape}; pass two 1-D arrays "
                         "of the same length")
    if not (np.all(np.isfinite(dd)) and np.all(np.isfinite(gg))):
        raise InputError("d and gold must be finite; drop the points where they are not "
                         "(e.g. tilts flagged low_ess)")
    if np.any(dd < 0):
        raise InputError(f"d has a negative entry ({dd.min()!r}); d = sqrt(KL) is >= 0")
    if len(dd) < 3:
        raise MetricUndefinedError(f"{len(dd)} points cannot fit 2 coefficients with an "
                                   "error estimate; pass at least 3 (d, gold) points")
    if not 0 < level < 1:
        raise InputError(f"level={level!r} must lie in (0, 1), e.g. 0.95")
    if ci not in ("delta", "bootstrap"):
        raise InputError(f"ci={ci!r}; use 'delta' or 'bootstrap'")
    x = _design(dd, kind)
    if np.linalg.matrix_rank(x) < 2:
        raise MetricUndefinedError("the points do not determine both coefficients (need at "
                                   "least 2 distinct d > 0); spread the sweep over more KL")
    return _fit(dd, gg, kind, float(level), ci, int(n_boot), seed)


def _fit(d, g, kind, level, ci, n_boot, seed) -> Fit:
    """Least squares on validated inputs; see :func:`fit_bon` / :func:`fit_rl`."""
    x = _design(d, kind)
    xtx_inv = np.linalg.inv(x.T @ x)
    coef = xtx_inv @ (x.T @ g)
    m = len(d)
    rss = float(np.sum((g - x @ coef) ** 2))
    s2 = rss / (m - 2)
    cov = s2 * xtx_inv
    a, b = float(coef[0]), float(coef[1])
    d_star, r_star = _peak(a, b, kind)
    if ci == "delta":
        t = float(stats.t.ppf(0.5 + level / 2, m - 2))
        se = np.sqrt(np.diag(cov))
        a_ci, b_ci = (a - t * se[0], a + t * se[0]), (b - t * se[1], b + t * se[1])
        if math.isfinite(d_star):
            jac = _peak_grad(a, b, kind)
            pse = np.sqrt(np.maximum(np.diag(jac @ cov @ jac.T), 0.0))
            d_ci = (d_star - t * pse[0], d_star + t * pse[0])
            r_ci = (r_star - t * pse[1], r_star + t * pse[1])
        else:
            d_ci = r_ci = (math.nan, math.nan)
    else:
        a_ci, b_ci, d_ci, r_ci = _bootstrap(x, g, kind, level, n_boot, seed)
    return Fit(kind, a, b, _f2(a_ci), _f2(b_ci), d_star, r_star, _f2(d_ci), _f2(r_ci), cov,
               math.sqrt(s2), m, level, ci)


def _f2(t) -> tuple[float, float]:
    return float(t[0]), float(t[1])


def _bootstrap(x, g, kind, level, n_boot, seed):
    """Percentile intervals of (α, β, d*, R*) over ``n_boot`` resamples of the points.

    :func:`rewardshift.metrics.stats.bootstrap_ci` with outward quantiles; resamples whose
    normal equations are singular are left out.
    """
    def refit(idx: np.ndarray) -> np.ndarray:  # idx (R, m) -> (R', 4)
        xr, gr = x[idx], g[idx]  # (R, m, 2), (R, m)
        xtx = np.einsum("rmi,rmj->rij", xr, xr)
        xty = np.einsum("rmi,rm->ri", xr, gr)
        scale = np.abs(xtx[:, 0, 0] * xtx[:, 1, 1]).clip(1e-300)
        ok = np.abs(np.linalg.det(xtx)) > 1e-12 * scale
        coef = np.linalg.solve(xtx[ok], xty[ok][..., None])[..., 0]
        peaks = np.array([_peak(a, b, kind) for a, b in coef]).reshape(-1, 2)
        return np.column_stack([coef, peaks])

    lo, hi = bootstrap_ci(refit, len(g), n_resamples=n_boot, confidence=level, seed=seed,
                          method="outward")
    return tuple((float(a), float(b)) for a, b in zip(lo, hi, strict=True))


# --------------------------------------------------------------------------- bias shift


def bias_shift(pool: WeightedPool, tuned_weights, feature_names: Sequence[str], *,
               truth_weights=None, target: Mapping[str, float] | None = None
               ) -> list[dict[str, object]]:
    """Per-axis mean and variance shift of a tuned policy, and its error against the truth.

    Parameters
    ----------
    pool : WeightedPool
        The outcomes, their base weights and features.
    tuned_weights : array (N,)
        The tuned policy's probabilities over the same outcomes (e.g. :func:`tilt`).
    feature_names : sequence of str
        Numeric features (axes) to analyse.
    truth_weights : array (N,), optional
        The ground-truth distribution over the same outcomes; default the base (a base that
        is the truth). On a sampled pool pass the normalised importance weights
        ``π_truth/π_ref``.
    target : dict of str to float, optional
        The raters' iconic point ``x0`` per axis.

    Returns
    -------
    list of dict, one per axis
        ``axis``; ``base_mean``, ``base_var``, ``tuned_mean``, ``tuned_var``, ``truth_mean``,
        ``truth_var``; ``mean_shift = μ_tuned − μ_base``, ``mean_shift_sd`` (in base standard
        deviations), ``variance_ratio = Var_tuned/Var_base`` and ``variance_change`` (ratio −
        1, so −0.8 means "fell 80%"); the error decomposition ``base_bias``, ``reward_shift``,
        ``tuned_bias``, ``bias_sq``, ``variance``, ``error`` (and ``base_error``); with a
        target: ``target``, ``toward_target`` (fraction of the base's distance to ``x0``
        closed; 1 = the mean reached it, negative = moved away).

    Notes
    -----
    The error of a tuned draw against the true mean ``μ_T`` decomposes exactly
    (bias–variance identity, the cross term vanishing because ``E_tuned[x − μ_tuned] = 0``)::

        error = E_tuned[(x − μ_T)²] = (μ_tuned − μ_T)² + Var_tuned = bias_sq + variance

    and the bias splits into what the base already got wrong and what the reward did::

        tuned_bias = μ_tuned − μ_T = (μ_base − μ_T) + (μ_tuned − μ_base)
                   = base_bias + reward_shift

    so ``bias_sq = base_bias² + 2·base_bias·reward_shift + reward_shift²``. ``base_error``
    is the same error for the base, ``(μ_base − μ_T)² + Var_base``.
    """
    if not isinstance(pool, WeightedPool):
        raise InputError(f"pool is a {type(pool).__name__}; pass a WeightedPool "
                         "(world.to_pool(...) or WeightedPool.from_probabilities(...))")
    n = len(pool)
    tuned = check_weights(tuned_weights, name="tuned_weights", n=n)
    truth = pool.base_weights if truth_weights is None else check_weights(
        truth_weights, name="truth_weights", n=n)
    names = [feature_names] if isinstance(feature_names, str) else list(feature_names)
    target = dict(target or {})
    unknown = sorted(set(target) - set(names))
    if unknown:
        raise InputError(f"target names axes {unknown} that are not in feature_names {names}")
    return [_axis_shift(name, np.asarray(pool.feature(name), dtype=float), pool.base_weights,
                        tuned, truth, target.get(name)) for name in names]


def _axis_shift(name, x, base, tuned, truth, x0) -> dict[str, object]:
    mb, mt, mtr = float(x @ base), float(x @ tuned), float(x @ truth)
    vb, vt, vtr = _var(x, base), _var(x, tuned), _var(x, truth)
    shift = mt - mb
    rec: dict[str, object] = {
        "axis": name, "base_mean": mb, "base_var": vb, "tuned_mean": mt, "tuned_var": vt,
        "truth_mean": mtr, "truth_var": vtr, "mean_shift": shift,
        "mean_shift_sd": shift / math.sqrt(vb) if vb > 0 else math.nan,
        "variance_ratio": vt / vb if vb > 0 else math.nan,
        "variance_change": vt / vb - 1.0 if vb > 0 else math.nan,
        "base_bias": mb - mtr, "reward_shift": shift, "tuned_bias": mt - mtr,
        "bias_sq": (mt - mtr) ** 2, "variance": vt, "error": (mt - mtr) ** 2 + vt,
        "base_error": (mb - mtr) ** 2 + vb,
    }
    if x0 is not None:
        gap = float(x0) - mb
        rec["target"] = float(x0)
        rec["toward_target"] = shift / gap if gap != 0 else math.nan
    return rec


def describe_bias_shift(records: Sequence[Mapping[str, Any]], *,
                        labels: Mapping[str, str] | None = None) -> str:
    """One sentence per direction: "variance fell 80% on symmetry and 3% on fragment count".

    Parameters
    ----------
    records : the output of :func:`bias_shift`
    labels : dict of str to str, optional
        Readable names of the axes (default the axis names with ``_`` as spaces).

    Examples
    --------
    >>> describe_bias_shift([{"axis": "symmetry", "variance_change": -0.8},
    ...                      {"axis": "fragment_count", "variance_change": -0.03}])
    'variance fell 80% on symmetry and 3% on fragment count.'
    """
    labels = dict(labels or {})

    def name(r):
        return labels.get(str(r["axis"]), str(r["axis"]).replace("_", " "))

    def join(parts):
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    rows = sorted((r for r in records if math.isfinite(float(r["variance_change"]))),
                  key=lambda r: float(r["variance_change"]))
    fell = [f"{-100 * float(r['variance_change']):.0f}% on {name(r)}" for r in rows
            if float(r["variance_change"]) < 0]
    rose = [f"{100 * float(r['variance_change']):.0f}% on {name(r)}" for r in rows[::-1]
            if float(r["variance_change"]) > 0]
    clauses = []
    if fell:
        clauses.append("variance fell " + join(fell))
    if rose:
        clauses.append(("rose " if fell else "variance rose ") + join(rose))
    toward = [f"{100 * float(r['toward_target']):.0f}% of the way to {r['target']:g} on "
              f"{name(r)}" for r in records
              if "toward_target" in r and math.isfinite(float(r["toward_target"]))]
    text = "; ".join(clauses) + "." if clauses else "variance unchanged on every axis."
    if toward:
        text += " The mean moved " + join(toward) + "."
    return text


def bias_contrast(pool: WeightedPool, tuned_weights, kinds: Mapping[str, str], *,
                  targets: Mapping[str, float] | None = None, n_boot: int = 200,
                  level: float = 0.95, seed: int = 0) -> dict[str, object]:
    """The thesis in two numbers: did tuning narrow what raters see more than what is so?

    With ``L_a = log(Var_tuned(a) / Var_base(a))`` the log variance ratio of axis ``a``
    (negative: the tuned policy is narrower), the contrast is

        C = mean_{a perceptual} L_a − mean_{a physical} L_a

    negative when the reward narrowed the perceptual axes (what raters see and like) more
    than the physical ones (what the outcome is). Beside it, the mean share of the way to the
    raters' ideal ``x0`` that the tuned mean moved, ``mean_a (μ_tuned − μ_base)/(x0 − μ_base)``
    over the axes with an ideal.

    Confidence intervals: on a sampled pool, the percentile bootstrap over its outcomes
    (resampled with replacement, both policies' weights renormalised on the resample;
    :func:`rewardshift.metrics.stats.bootstrap_ci`). An enumerated pool is the whole support
    with exact probabilities: the numbers are exact and ``ci`` is ``None``.

    Returns ``{"perceptual": {...}, "physical": {...}, "contrast": {"value", "ci"},
    "toward_ideal": {"value", "ci", "axes"}, "exact", "verdict"}``; a part whose axes are
    missing is ``None``.
    """
    n = len(pool)
    tuned = check_weights(tuned_weights, name="tuned_weights", n=n)
    base = pool.base_weights
    groups = {k: [a for a, kind in kinds.items() if kind == k] for k in ("perceptual",
                                                                        "physical")}
    axes = groups["perceptual"] + groups["physical"]
    targets = {a: float(v) for a, v in (targets or {}).items() if a in kinds}
    x = {a: np.asarray(pool.feature(a), dtype=float) for a in set(axes) | set(targets)}

    def stats_of(wb: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """[mean L perceptual, mean L physical, contrast, toward ideal] for one weighting."""
        wb, wt = wb / wb.sum(), wt / wt.sum()
        lvr = {}
        for a in axes:
            vb, vt = _var(x[a], wb), _var(x[a], wt)
            lvr[a] = math.log(vt / vb) if vb > 0 and vt > 0 else math.nan
        mean = {k: float(np.mean([lvr[a] for a in g])) if g else math.nan
                for k, g in groups.items()}
        toward = [(float(x[a] @ wt) - float(x[a] @ wb)) / (x0 - float(x[a] @ wb))
                  for a, x0 in targets.items() if x0 != float(x[a] @ wb)]
        return np.array([mean["perceptual"], mean["physical"],
                         mean["perceptual"] - mean["physical"],
                         float(np.mean(toward)) if toward else math.nan])

    point = stats_of(base, tuned)
    ci: list[tuple[float, float] | None] = [None] * 4
    if pool.sampled and n_boot > 0:
        def boot(idx: np.ndarray) -> np.ndarray:
            out = []
            for row in idx:
                counts = np.bincount(row, minlength=n).astype(float)
                wb, wt = base * counts, tuned * counts
                if wb.sum() > 0 and wt.sum() > 0:
                    out.append(stats_of(wb, wt))
            return np.array(out).reshape(-1, 4)

        lo, hi = bootstrap_ci(boot, n, n_resamples=n_boot, confidence=level, seed=seed)
        ci = [None if not (math.isfinite(a) and math.isfinite(b)) else (float(a), float(b))
              for a, b in zip(lo, hi, strict=True)]

    def part(i: int, **extra: object) -> dict[str, object] | None:
        return (None if not math.isfinite(point[i])
                else {"value": float(point[i]), "ci": ci[i], **extra})

    out: dict[str, object] = {
        "perceptual": part(0, axes=groups["perceptual"]),
        "physical": part(1, axes=groups["physical"]),
        "contrast": part(2), "toward_ideal": part(3, axes=sorted(targets)),
        "exact": not pool.sampled, "level": level,
    }
    out["verdict"] = describe_contrast(out)
    return out


def describe_contrast(c: Mapping[str, Any]) -> str:
    """The contrast of :func:`bias_contrast` in one line: the thesis, or its absence."""
    con, per, phy = c.get("contrast"), c.get("perceptual"), c.get("physical")
    if not con or not per or not phy:
        return "no contrast: the world lacks perceptual or physical numeric axes."

    def ci(part: Mapping[str, Any]) -> str:
        iv = part.get("ci")
        if not iv:
            return " (exact)" if c.get("exact") else ""
        return f" [{iv[0]:+.2f}, {iv[1]:+.2f}]"

    v, iv = float(con["value"]), con.get("ci")
    holds = v < 0 and (iv is None or iv[1] < 0)
    reverse = v > 0 and (iv is None or iv[0] > 0)
    lead = ("The reward narrowed what raters see more than what is so" if holds else
            "The reward narrowed the physical axes more than the perceptual ones" if reverse
            else "No clear contrast between perceptual and physical axes")
    text = (f"{lead}: mean log variance ratio {float(per['value']):+.2f} on perceptual axes vs "
            f"{float(phy['value']):+.2f} on physical ones (contrast {v:+.2f}{ci(con)}).")
    tw = c.get("toward_ideal")
    if tw:
        iv = tw.get("ci")
        rng = f" [{100 * iv[0]:.0f}%, {100 * iv[1]:.0f}%]" if iv else ""
        text += (f" The tuned mean moved {100 * float(tw['value']):.0f}%{rng} of the way to "
                 "the raters' ideal.")
    return text


# --------------------------------------------------------------------------- edge cases


def edge_cases(pool: WeightedPool, tuned_weights, *, quantile: float = 0.05,
               truth_weights=None, score=None, mask=None, keep_share: float = 0.1
               ) -> dict[str, object]:
    """Mass and recall of the ground truth's rare outcomes under the base and the tuned policy.

    Parameters
    ----------
    pool : WeightedPool
    tuned_weights : array (N,)
        The tuned policy over the pool's outcomes.
    quantile : float in (0, 1), default 0.05
        The tail: outcomes whose rarity score is at or below its ``quantile``-quantile under
        the truth distribution (so the tail holds about ``quantile`` of the true mass).
    truth_weights : array (N,), optional
        The ground truth over the outcomes; default the base.
    score : array (N,), optional
        Rarity score (lower = rarer). Default: on an enumerated pool ``log`` of the truth
        (else base) probability; on a sampled pool ``pool.log_base`` (base log-density).
    mask : bool array (N,), optional
        The tail given directly (overrides ``score`` and ``quantile``).
    keep_share : float in (0, 1], default 0.1
        An outcome is *kept* when the tuned policy leaves it at least this share of its base
        mass.

    Returns
    -------
    dict
        ``n_tail``; ``mass_truth``, ``mass_base``, ``mass_tuned`` (total mass of the tail) and
        ``mass_ratio = mass_tuned/mass_base``; ``recall`` = fraction of tail outcomes with
        ``π_tuned(x) ≥ keep_share·π_ref(x)``, ``recall_mass`` the same weighted by base mass;
        ``threshold`` (the score quantile, ``None`` with a mask), ``quantile``, ``keep_share``.
    """
    if not isinstance(pool, WeightedPool):
        raise InputError(f"pool is a {type(pool).__name__}; pass a WeightedPool")
    n = len(pool)
    tuned = check_weights(tuned_weights, name="tuned_weights", n=n)
    truth = pool.base_weights if truth_weights is None else check_weights(
        truth_weights, name="truth_weights", n=n)
    if not 0 < keep_share <= 1:
        raise InputError(f"keep_share={keep_share!r} must lie in (0, 1], e.g. 0.1")
    threshold = None
    if mask is not None:
        tail = np.asarray(mask)
        if tail.dtype != bool or tail.shape != (n,):
            raise InputError(f"mask has dtype {tail.dtype} and shape {tail.shape}; pass a "
                             f"boolean array of shape ({n},)")
    else:
        if not 0 < quantile < 1:
            raise InputError(f"quantile={quantile!r} must lie in (0, 1), e.g. 0.05")
        s = _rarity_score(pool, truth_weights, score)
        threshold = _quantile(s, quantile, truth)
        tail = s <= threshold
    return _edge_cases(pool.base_weights, tuned, truth, tail, threshold, quantile, keep_share)


def _rarity_score(pool: WeightedPool, truth_weights, score) -> np.ndarray:
    if score is not None:
        s = np.asarray(score, dtype=float)
        if s.shape != (len(pool),) or np.any(np.isnan(s)):
            raise InputError(f"score has shape {s.shape} or NaNs; pass ({len(pool)},) numbers")
        return s
    if not pool.sampled:
        w = pool.base_weights if truth_weights is None else np.asarray(truth_weights, float)
        with np.errstate(divide="ignore"):
            return np.log(w)
    if pool.log_base is None:
        raise InputError("a sampled pool without log_base has no rarity score: pass "
                         "score= (lower = rarer) or mask= (the tail outcomes)")
    return pool.log_base


def _edge_cases(base, tuned, truth, tail, threshold, quantile, keep_share) -> dict[str, object]:
    nt = int(tail.sum())
    mb, mt, mtr = float(base[tail].sum()), float(tuned[tail].sum()), float(truth[tail].sum())
    has_base = tail & (base > 0)
    kept = has_base & (tuned >= keep_share * base)
    nb = int(has_base.sum())
    return {"quantile": None if threshold is None else float(quantile),
            "threshold": None if threshold is None else float(threshold),
            "n_tail": nt, "mass_truth": mtr, "mass_base": mb, "mass_tuned": mt,
            "mass_ratio": mt / mb if mb > 0 else math.nan, "keep_share": float(keep_share),
            "recall": int(kept.sum()) / nb if nb else math.nan,
            "recall_mass": float(base[kept].sum()) / mb if mb > 0 else math.nan}
