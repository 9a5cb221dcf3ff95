"""What tuning did to the images, measured from pixels: per-axis shift, the perceptual-against-
physical contrast, edge-case recall and the iconic mean, each with a bootstrap interval.

Every function takes the measures of two image sets (``{axis: values}``, as
:func:`rewardshift.images.measures.measure_images` returns them): a reference (the base
generator, or held-out renders of the truth) and a tuned set. The sets are independent samples,
so intervals are percentile bootstraps that resample each set on its own
(:func:`rewardshift.metrics.stats.bootstrap_ci` over the first, a seeded second stream for the
other).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.metrics.stats import bootstrap_ci

__all__ = ["axis_shift", "edge_case_recall", "iconic_mean", "shift_contrast"]

Measures = Mapping[str, np.ndarray]


def _columns(m: Measures, axes: Sequence[str], name: str) -> np.ndarray:
    missing = [a for a in axes if a not in m]
    if missing:
        raise InputError(f"{name} lacks the measured axes {missing}; it has {sorted(m)}")
    x = np.column_stack([np.asarray(m[a], dtype=float) for a in axes])
    if len(x) < 2:
        raise InputError(f"{name} has {len(x)} image(s); an interval needs at least 2")
    return x


def _two_sample_ci(stat: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray,
                   b: np.ndarray, *, n_boot: int, level: float, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap of ``stat(a_rows, b_rows)`` resampling ``a`` and ``b`` separately."""
    rng_b = np.random.default_rng([seed, 1])

    def boot(idx_a: np.ndarray) -> np.ndarray:
        idx_b = rng_b.integers(0, len(b), size=(len(idx_a), len(b)))
        return np.array([stat(a[ia], b[ib]) for ia, ib in zip(idx_a, idx_b, strict=True)])

    lo, hi = bootstrap_ci(boot, len(a), n_resamples=n_boot, confidence=level, seed=seed)
    return np.atleast_1d(lo), np.atleast_1d(hi)


def _log_var_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    va, vb = a.var(axis=0), b.var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((va > 0) & (vb > 0), np.log(vb / np.where(va > 0, va, 1.0)), np.nan)


def axis_shift(reference: Measures, tuned: Measures, kinds: Mapping[str, str], *,
               n_boot: int = 200, level: float = 0.95, seed: int = 0) -> list[dict[str, object]]:
    """Per axis: means, ``mean_shift`` in reference standard deviations, and the log variance
    ratio ``log(Var_tuned / Var_ref)`` (negative: narrower), each with an interval."""
    axes = list(kinds)
    a, b = _columns(reference, axes, "reference"), _columns(tuned, axes, "tuned")
    sd = a.std(axis=0)

    def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.concatenate([(y.mean(axis=0) - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0),
                               _log_var_ratio(x, y)])

    point = stat(a, b)
    lo, hi = _two_sample_ci(stat, a, b, n_boot=n_boot, level=level, seed=seed)
    k = len(axes)
    return [{"axis": ax, "kind": kinds[ax], "ref_mean": float(a[:, i].mean()),
             "tuned_mean": float(b[:, i].mean()), "mean_shift_sd": float(point[i]),
             "mean_shift_sd_ci": [float(lo[i]), float(hi[i])],
             "log_variance_ratio": float(point[k + i]),
             "log_variance_ratio_ci": [float(lo[k + i]), float(hi[k + i])]}
            for i, ax in enumerate(axes)]


def shift_contrast(reference: Measures, tuned: Measures, kinds: Mapping[str, str], *,
                   n_boot: int = 200, level: float = 0.95, seed: int = 0) -> dict[str, object]:
    """``C = mean_{perceptual} L_a - mean_{physical} L_a`` with ``L_a`` the log variance ratio
    of axis ``a``: negative when tuning narrowed what raters see more than what the scene is
    (the thesis). The same quantity as :func:`rewardshift.lab.analysis.bias_contrast`, here
    between two independent image sets."""
    per = [a for a, k in kinds.items() if k == "perceptual"]
    phy = [a for a, k in kinds.items() if k == "physical"]
    if not per or not phy:
        raise InputError("the contrast needs at least one perceptual and one physical axis")
    axes = per + phy
    a, b = _columns(reference, axes, "reference"), _columns(tuned, axes, "tuned")

    def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        lvr = _log_var_ratio(x, y)
        mp, mf = float(np.nanmean(lvr[:len(per)])), float(np.nanmean(lvr[len(per):]))
        return np.array([mp, mf, mp - mf])

    point = stat(a, b)
    lo, hi = _two_sample_ci(stat, a, b, n_boot=n_boot, level=level, seed=seed)
    holds = bool(point[2] < 0 and hi[2] < 0)
    return {"perceptual": {"value": float(point[0]), "ci": [float(lo[0]), float(hi[0])],
                           "axes": per},
            "physical": {"value": float(point[1]), "ci": [float(lo[1]), float(hi[1])],
                         "axes": phy},
            "contrast": {"value": float(point[2]), "ci": [float(lo[2]), float(hi[2])]},
            "holds": holds, "level": level}


def edge_case_recall(truth: Measures, generated: Measures,
                     regions: Mapping[str, Callable[[Measures], np.ndarray]], *,
                     n_boot: int = 200, level: float = 0.95, seed: int = 0
                     ) -> dict[str, dict[str, object]]:
    """Per named rare region: its share among the truth's images, among the generated ones,
    and the recall ``share_generated / share_truth`` (1 = kept, 0 = lost), with intervals.

    A region is a predicate on measures, e.g. "strongly asymmetric": asymmetry above the
    truth's 90th percentile.
    """
    out: dict[str, dict[str, object]] = {}
    for name, pred in regions.items():
        t = np.asarray(pred(truth), dtype=float)[:, None]
        g = np.asarray(pred(generated), dtype=float)[:, None]
        if t.mean() == 0:
            raise InputError(f"edge-case region {name!r} holds none of the truth's images; "
                             "widen it")

        def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            sx = float(x.mean())
            return np.array([float(y.mean()) / sx if sx > 0 else math.nan])

        point = float(g.mean()) / float(t.mean())
        lo, hi = _two_sample_ci(stat, t, g, n_boot=n_boot, level=level, seed=seed)
        out[name] = {"share_truth": float(t.mean()), "share_generated": float(g.mean()),
                     "recall": point, "recall_ci": [float(lo[0]), float(hi[0])]}
    return out


def iconic_mean(truth: Measures, generated: Measures, axes: Sequence[str]) -> dict[str, object]:
    """The generated centroid against the true one, in the truth's standard deviations per
    axis (z-scores), and their Euclidean distance: how far the typical image moved."""
    t, g = _columns(truth, axes, "truth"), _columns(generated, axes, "generated")
    sd = t.std(axis=0)
    z = (g.mean(axis=0) - t.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return {"axes": list(axes), "z": [float(v) for v in z], "distance": float(np.linalg.norm(z))}
