"""Measure sets of images (e.g. folders read by :func:`~rewardshift.images.folder.read_image_folder`).

Per set: each pixel measure of :func:`~rewardshift.images.measures.measure_images` as a mean
over images with a percentile-bootstrap CI over images; the diversity of the downsampled
pixels (:func:`~rewardshift.metrics.images.image_diversity`: Vendi scores and the mean
pairwise distance) with a half-sample jackknife CI. For a base and a tuned set: the Fréchet
distance and precision/recall between them (pixel features, the same jackknife over the
pooled images), and per measure the change, a permutation p-value and a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.images.measures import measure_images
from rewardshift.measure import (
    ALPHA,
    LESS,
    MIN_EFFECT_D,
    MIN_RELATIVE_CHANGE,
    MORE,
    NO_CHANGE,
    NO_PRACTICAL_CHANGE,
)
from rewardshift.metrics import stats as ms
from rewardshift.metrics.images import (
    check_images,
    frechet_distance,
    image_diversity,
    pixel_features,
    precision_recall,
)

__all__ = ["HIGHER_VALUE", "LOWER_VALUE", "ImageMeasureResult", "measure_image_sets"]

#: Verdicts of a pixel measure, which has no "more diverse" direction.
HIGHER_VALUE, LOWER_VALUE = "higher", "lower"
FEATURE_SIDE = 8  #: largest side of the downsampled pixel features
#: side of the features of the between-set measures: 4 x 4 x 3 = 48 dimensions, so the
#: Fréchet covariances of a few dozen images stay far from singular (and cheap to root)
PAIR_SIDE = 4
PR_K = 3  #: neighbourhood of precision/recall (Kynkäänniemi et al. 2019)
DIVERSITY_LOWER = {"mean_pairwise_distance": 0.0}  #: lower bounds (Vendi: 1)


@dataclass(frozen=True)
class ImageMeasureResult:
    """``summary`` (JSON-ready: ``sets``, ``comparison``, ``definitions``) and ``records``
    (one flat row per set and measure, then per compared measure)."""

    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)


def _feature_side(shapes: list[tuple[int, ...]], largest: int) -> int:
    """The largest side <= ``largest`` dividing every image's height and width."""
    g = 0
    for s in shapes:
        g = math.gcd(g, math.gcd(s[1], s[2]))
    return max(d for d in range(1, largest + 1) if g % d == 0)


def _entry(value: float | None, ci: tuple[float, float] | None, n: int, kind: str
           ) -> dict[str, Any]:
    if value is None or not math.isfinite(value):
        return {"value": None, "ci": None, "n": n, "kind": kind}
    return {"value": float(value), "ci": list(ci) if ci is not None else None, "n": n,
            "kind": kind}


def _record(name: str, measure: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A flat metrics.jsonl row of a measure entry (the CI as ``ci_low``, ``ci_high``)."""
    ci = entry["ci"] or (None, None)
    return {"set": name, "measure": measure, "value": entry["value"], "ci_low": ci[0],
            "ci_high": ci[1], "n": entry["n"], "kind": entry["kind"]}


def _pixel_entries(values: Mapping[str, np.ndarray], *, n_boot: int, seed: int
                   ) -> dict[str, dict[str, Any]]:
    out = {}
    for name, v in values.items():
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else None
        out[name] = _entry(mean, ms.bootstrap_mean_ci(v, n_resamples=n_boot, seed=seed),
                           int(v.size), "pixel mean")
    return out


def _diversity(feats: np.ndarray, idx: np.ndarray) -> dict[str, float]:
    return image_diversity(feats[idx])


def _diversity_entries(feats: np.ndarray, *, n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    idx = np.arange(len(feats))
    try:
        values = _diversity(feats, idx)
    except MetricUndefinedError:
        return {}
    se = ms.half_sample_se(lambda i: _diversity(feats, i), idx, n_resamples=n_boot, seed=seed)
    return {k: _entry(v, ms.bounded_normal_ci(v, se.get(k), lower=DIVERSITY_LOWER.get(k, 1.0)),
                      len(feats), "diversity") for k, v in values.items()}


def _pair(feats: np.ndarray, n_a: int, idx: np.ndarray) -> dict[str, float]:
    """Fréchet distance and precision/recall of the pooled rows ``idx`` (< n_a: base)."""
    a, b = feats[idx[idx < n_a]], feats[idx[idx >= n_a]]
    if min(len(a), len(b)) < PR_K + 1:
        raise MetricUndefinedError(f"precision/recall need at least {PR_K + 1} images a set")
    p, r = precision_recall(a, b, k=PR_K)
    return {"frechet_distance": frechet_distance(a, b), "precision": p, "recall": r}


def _pair_entries(fa: np.ndarray, fb: np.ndarray, *, n_boot: int, seed: int
                  ) -> dict[str, dict[str, Any]]:
    feats = np.vstack([fa, fb])
    idx = np.arange(len(feats))
    try:
        values = _pair(feats, len(fa), idx)
    except MetricUndefinedError:
        return {}
    se = ms.half_sample_se(lambda i: _pair(feats, len(fa), i), idx, n_resamples=n_boot,
                           seed=seed, min_size=1, strata=(idx[:len(fa)], idx[len(fa):]))
    out = {}
    for k, v in values.items():
        ci = ms.bounded_normal_ci(v, se.get(k), lower=0.0)
        if ci is not None and k != "frechet_distance":
            ci = (ci[0], min(ci[1], 1.0))
        out[k] = _entry(v, ci, len(feats), "between sets")
    return out


def _verdict(change: float | None, p: float | None, practical: bool, higher_is: str | None
             ) -> str:
    if change is None or p is None or p >= ALPHA or change == 0:
        return NO_CHANGE
    if not practical:
        return NO_PRACTICAL_CHANGE
    if higher_is is None:
        return HIGHER_VALUE if change > 0 else LOWER_VALUE
    return MORE if (change > 0) == (higher_is == ms.HIGHER) else LESS


def _compare(name: str, va: float | None, vb: float | None, p: float | None,
             effect: float | None, higher_is: str | None) -> dict[str, Any]:
    change = None if va is None or vb is None else vb - va
    rel = change / abs(va) if change is not None and va else None
    if effect is not None:
        practical = abs(effect) >= MIN_EFFECT_D
    else:
        practical = rel is not None and abs(rel) >= MIN_RELATIVE_CHANGE
    return {"measure": name, "base": va, "tuned": vb, "change": change,
            "relative_change": rel, "p_value": p, "effect_size": effect,
            "verdict": _verdict(change, p, practical, higher_is)}


def _check_n_boot(n_boot: object) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise InputError(f"n_boot must be an integer >= 10, got {n_boot!r}", option="n_boot")
    return int(n_boot)


def measure_image_sets(sets: Mapping[str, np.ndarray], *, base: str | None = None,
                       tuned: str | None = None, seed: int = 0,
                       n_boot: int = 200) -> ImageMeasureResult:
    """Every image measure of each set, with CIs, and the comparison of ``base`` and ``tuned``.

    Parameters
    ----------
    sets : name -> uint8 images (N, H, W, 3), at least 4x4 pixels.
    base, tuned : names in ``sets`` to compare (both or neither).
    seed : seed of every resampling.
    n_boot : bootstrap resamples of the pixel means and permutation resamples of their
        tests; the jackknife of the set statistics uses a quarter of it (at least 10).

    Returns
    -------
    ImageMeasureResult
        ``summary["sets"][name]["measures"][m]`` is ``{"value", "ci", "n", "kind"}`` (``ci``
        ``None`` where it cannot be estimated, e.g. from one image);
        ``summary["comparison"]`` (``None`` without a pair) has ``measures`` (change,
        p-value, verdict) and ``between`` (Fréchet distance, precision, recall).
    """
    n_boot = _check_n_boot(n_boot)
    if not sets:
        raise InputError("no image sets to measure")
    if (base is None) != (tuned is None):
        raise InputError("give both base and tuned to compare, or neither", option="base")
    for who, key in (("base", base), ("tuned", tuned)):
        if key is not None and key not in sets:
            raise InputError(f"{who} set {key!r} is not among {sorted(sets)}", option=who)
    arrays = {k: check_images(v, name=k, min_side=4) for k, v in sets.items()}
    side = _feature_side([a.shape for a in arrays.values()], FEATURE_SIDE)
    n_jack = max(10, n_boot // 4)
    pixels = {k: measure_images(a) for k, a in arrays.items()}
    feats = {k: pixel_features(a, size=side) for k, a in arrays.items()}
    summary: dict[str, Any] = {"kind": "images", "feature_side": side, "sets": {},
                               "base": base, "tuned": tuned, "comparison": None}
    records: list[dict[str, Any]] = []
    for k, a in arrays.items():
        measures = {**_pixel_entries(pixels[k], n_boot=n_boot, seed=seed),
                    **_diversity_entries(feats[k], n_boot=n_jack, seed=seed)}
        summary["sets"][k] = {"n_images": int(a.shape[0]), "height": int(a.shape[1]),
                              "width": int(a.shape[2]), "measures": measures}
        records += [_record(k, m, e) for m, e in measures.items()]
    if base is not None and tuned is not None:
        summary["comparison"] = _comparison(arrays, pixels, feats, summary, base, tuned,
                                            n_boot=n_boot, n_jack=n_jack, seed=seed)
        records += [{"set": f"{base} vs {tuned}", **c}
                    for c in summary["comparison"]["measures"].values()]
        records += [_record(f"{base} vs {tuned}", m, e)
                    for m, e in summary["comparison"]["between"].items()]
    summary["definitions"] = DEFINITIONS
    return ImageMeasureResult(summary=summary, records=records)


def _comparison(arrays: Mapping[str, np.ndarray], pixels: Mapping[str, Mapping[str, np.ndarray]],
                feats: Mapping[str, np.ndarray], summary: Mapping[str, Any], base: str,
                tuned: str, *, n_boot: int, n_jack: int, seed: int) -> dict[str, Any]:
    ma, mb = summary["sets"][base]["measures"], summary["sets"][tuned]["measures"]
    out: dict[str, Any] = {}
    for m in pixels[base]:
        a, b = pixels[base][m], pixels[tuned][m]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        p = ms.permutation_test_values(a, b, n_resamples=n_boot, seed=seed)
        d = ms.cohens_d(a, b) if min(a.size, b.size) >= 2 else None
        out[m] = _compare(m, ma[m]["value"], mb[m]["value"], p, d, None)
    pooled = np.vstack([feats[base], feats[tuned]])
    n_a = len(feats[base])
    ps = ms.permutation_test_sets(lambda i: _diversity(pooled, i), np.arange(n_a),
                                  np.arange(n_a, len(pooled)), n_resamples=n_jack, seed=seed)
    for m in (k for k in ma if ma[k]["kind"] == "diversity" and k in mb):
        out[m] = _compare(m, ma[m]["value"], mb[m]["value"], ps.get(m), None, ms.HIGHER)
    side = _feature_side([arrays[base].shape, arrays[tuned].shape], PAIR_SIDE)
    between = _pair_entries(pixel_features(arrays[base], size=side),
                            pixel_features(arrays[tuned], size=side), n_boot=n_jack, seed=seed)
    return {"base": base, "tuned": tuned, "measures": out, "between": between}


DEFINITIONS = {
    "pixel mean": "mean over images of a pixel measure (rewardshift.images.measures); CI: "
                  "percentile bootstrap over images",
    "diversity": "Vendi scores (q = 0.5, 1, 2, inf) and mean pairwise distance of "
                 "downsampled pixels (image_diversity); higher = more diverse; CI: "
                 "half-sample jackknife SE, normal interval on the log scale above the bound",
    "between sets": "Fréchet distance (lower = closer) and precision/recall (k = 3) of the "
                    "tuned set against the base set, on pixels downsampled to 4 x 4; CI: half-sample "
                    "jackknife over the pooled images",
    "verdict": f"permutation p < {ALPHA} and at least the minimal effect (|Cohen's d| >= "
               f"{MIN_EFFECT_D} for pixel means, |relative change| >= {MIN_RELATIVE_CHANGE:.0%} "
               f"for diversity); pixel measures say '{HIGHER_VALUE}' or '{LOWER_VALUE}', "
               f"diversity '{MORE}' or '{LESS}'; otherwise '{NO_PRACTICAL_CHANGE}' or "
               f"'{NO_CHANGE}'",
}
