"""Statistics the probes share: comparisons with p-values and effect sizes, and verdict strings.

Every comparison is "tuned against base". Three kinds of test, named in each
:class:`~rewardshift.probes.Comparison`'s ``test`` field:

* ``"paired permutation over prompts"`` / ``"permutation over prompts"`` -- a statistic
  computed per prompt (per input, Kirk et al. 2023) and compared through
  :func:`rewardshift.metrics.stats.permutation_test_values` (sign flips when both sources
  answered the same prompts), with Cohen's d (``d_z`` when paired);
* ``"set permutation"`` -- a statistic of a whole set (an entropy, a support size) recomputed
  on random re-splits of the pooled samples (:func:`~rewardshift.metrics.stats.
  permutation_test_sets`), with ``z = delta / sqrt(SE_a^2 + SE_b^2)`` from half-sample
  jackknife standard errors, as :func:`rewardshift.measure.measure` does across inputs;
* ``"label permutation"`` -- a divergence between the two sets (Jensen-Shannon), against its
  distribution under random relabelling of the pooled samples: ``p = (1 + #{JS_r >= JS}) /
  (1 + R)`` (Phipson & Smyth 2010; :func:`rewardshift.metrics.stats.js_permutation`).

Set and label permutations treat samples as exchangeable, so they ignore that samples of one
prompt are correlated; the per-prompt tests do not. Both are reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

from rewardshift.metrics import stats as ms

# defined in rewardshift.metrics.stats; re-exported for the probes
from rewardshift.metrics.stats import (
    DISTANCE,
    HIGHER,
    LOWER,
    NEUTRAL,
    cluster_bootstrap_share,
    cohen_h,
    format_p,
    js_permutation,
    wilson_ci,
)

__all__ = [
    "ALPHA",
    "DISTANCE",
    "HIGHER",
    "LOWER",
    "NEUTRAL",
    "cluster_bootstrap_share",
    "cohen_h",
    "compare_sets",
    "compare_units",
    "describe_change",
    "encode",
    "entropy_of_codes",
    "format_p",
    "js_permutation",
    "rarefied_support",
    "wilson_ci",
]

ALPHA = 0.05


def _num(x: float, unit: str) -> str:
    s = f"{x:.3g}"
    return f"{s} {unit}".rstrip() if unit else s


def describe_change(label: str, base: float | None, tuned: float | None, *,
                    p_value: float | None, direction: str = HIGHER, kind: str = "relative",
                    unit: str = "") -> str:
    """A plain-language verdict: what changed from base to tuned, how much, how sure.

    Parameters
    ----------
    label : what is compared, e.g. ``"per-input embedding diversity"``.
    base, tuned : the two values (``None`` when undefined).
    p_value : the test's p-value (``None`` when no test could be run).
    direction : ``"higher_more_diverse"``, ``"lower_more_diverse"`` or ``"distance"`` (adds
        ": less diverse" / ": more diverse" to a significant change of a diversity metric).
    kind : ``"relative"`` (``41% lower``), ``"points"`` (shares in [0, 1]: ``6% -> 82%,
        +76 points``), ``"ratio"`` (``2.7x lower``), ``"difference"`` (a signed quantity:
        ``+0.81 (0.13 -> 0.94)``) or ``"value"`` (a divergence: its value). A ratio below
        1.5 is written as a relative change (``4% lower``), since ``1x lower`` says nothing.
    unit : appended to the numbers (``"nats"``).

    Examples
    --------
    >>> describe_change("per-input embedding diversity", 0.52, 0.31, p_value=0.0002)
    'per-input embedding diversity 40% lower (0.52 → 0.31), p < 0.001: less diverse'
    >>> describe_change("top-bin share", 0.059, 0.82, p_value=0.0004, kind="points",
    ...                 direction="lower_more_diverse")
    'top-bin share 5.9% → 82.0% (+76.1 points), p < 0.001: less diverse'
    """
    if base is None or tuned is None or not (math.isfinite(base) and math.isfinite(tuned)):
        return f"{label}: undefined (base {base}, tuned {tuned})"
    p_txt = format_p(p_value)
    if kind == "value":
        return f"{label} {_num(tuned, unit)}, {p_txt}" + (
            "" if p_value is None else (": the distributions differ" if p_value < ALPHA
                                        else ": no significant difference"))
    if kind == "difference":
        change = f"{tuned - base:+.3g}{(' ' + unit) if unit else ''} ({base:.3g} → {tuned:.3g})"
    elif kind == "points":
        change = (f"{base * 100:.1f}% → {tuned * 100:.1f}% "
                  f"({(tuned - base) * 100:+.1f} points)")
    elif base == tuned:
        change = f"unchanged ({_num(base, unit)})"
    elif kind == "ratio" and base > 0 and tuned > 0 and max(base, tuned) >= 1.5 * min(base,
                                                                                 tuned):
        ratio = max(base, tuned) / min(base, tuned)
        change = (f"{ratio:.2g}× {'lower' if tuned < base else 'higher'} "
                  f"({_num(base, '')} → {_num(tuned, unit)})")
    elif base == 0:
        change = f"from 0 to {_num(tuned, unit)}"
    else:
        rel = (tuned - base) / abs(base)
        change = (f"{abs(rel) * 100:.0f}% {'lower' if rel < 0 else 'higher'} "
                  f"({_num(base, '')} → {_num(tuned, unit)})")
    text = f"{label} {change}, {p_txt}"
    if p_value is None:
        return text
    if p_value >= ALPHA or tuned == base:
        return text + ": no significant change"
    if direction == NEUTRAL:
        return text + ": a significant shift"
    if direction in (HIGHER, LOWER):
        more = (tuned > base) == (direction == HIGHER)
        return text + (": more diverse" if more else ": less diverse")
    return text


# --------------------------------------------------------------------------- tests


def compare_units(units_a: Mapping[str, float], units_b: Mapping[str, float], *,
                  n_resamples: int, seed: int
                  ) -> tuple[float | None, float | None, float | None, float | None, str, str]:
    """Compare per-prompt values of two sources.

    Returns ``(mean_a, mean_b, p, effect, effect_kind, test)``; paired by prompt when both
    have the same prompts (at least two), otherwise unpaired. ``p`` and ``effect`` are
    ``None`` with fewer than two prompts on a side.
    """
    paired = set(units_a) == set(units_b) and len(units_a) >= 2
    keys = sorted(units_a) if paired else None
    a = np.array([units_a[k] for k in keys] if keys is not None else list(units_a.values()),
                 dtype=float)
    b = np.array([units_b[k] for k in keys] if keys is not None else list(units_b.values()),
                 dtype=float)
    mean_a = float(a.mean()) if a.size else None
    mean_b = float(b.mean()) if b.size else None
    p = ms.permutation_test_values(a, b, paired=paired, n_resamples=n_resamples, seed=seed)
    d = ms.cohens_d(a, b, paired=paired)
    if paired:
        return mean_a, mean_b, p, d, "cohen_dz", "paired permutation over prompts"
    return mean_a, mean_b, p, d, "cohen_d", "permutation over prompts"


def compare_sets(statistic: Callable[[np.ndarray], Mapping[str, float]], idx_a: np.ndarray,
                 idx_b: np.ndarray, *, n_resamples: int, seed: int
                 ) -> dict[str, tuple[float, float, float | None, float | None]]:
    """Set statistics of two index sets: ``{name: (value_a, value_b, p, z)}``.

    ``p`` from :func:`~rewardshift.metrics.stats.permutation_test_sets`; ``z`` from
    half-sample jackknife standard errors (``None`` when they are 0 or undefined).
    """
    va, vb = statistic(idx_a), statistic(idx_b)
    pvals = ms.permutation_test_sets(statistic, idx_a, idx_b, n_resamples=n_resamples,
                                      seed=seed)
    n_se = max(10, min(n_resamples, 200))
    se_a = ms.half_sample_se(statistic, idx_a, n_resamples=n_se, seed=seed)
    se_b = ms.half_sample_se(statistic, idx_b, n_resamples=n_se, seed=seed)
    out = {}
    for k in va:
        z = None
        if k in se_a and k in se_b and se_a[k] ** 2 + se_b[k] ** 2 > 0:
            z = (vb[k] - va[k]) / math.sqrt(se_a[k] ** 2 + se_b[k] ** 2)
        out[k] = (float(va[k]), float(vb[k]), pvals.get(k), z)
    return out


def encode(values: Sequence[Hashable]) -> tuple[np.ndarray, list[Hashable]]:
    """Integer codes of ``values`` and the categories in order of first appearance."""
    cats: dict[Hashable, int] = {}
    codes = np.fromiter((cats.setdefault(v, len(cats)) for v in values), dtype=np.int64,
                        count=len(values))
    return codes, list(cats)


def entropy_of_codes(codes: np.ndarray) -> float:
    """Plug-in Shannon entropy (nats) of integer labels; 0 for an empty array."""
    if codes.size == 0:
        return 0.0
    c = np.bincount(codes)
    p = c[c > 0] / codes.size
    return max(0.0, float(-(p * np.log(p)).sum()))


def rarefied_support(counts: Mapping[str, int] | Sequence[int], n: int) -> float:
    """Expected number of categories among ``n`` draws without replacement (Hurlbert 1971).

    ``E[S_n] = sum_k 1 - C(N - c_k, n) / C(N, n)`` with ``N = sum_k c_k``: the support size
    the set would show at sample size ``n``, so sets of different sizes compare fairly.

    Examples
    --------
    >>> round(rarefied_support([2, 2], 1), 6)
    1.0
    >>> round(rarefied_support([1, 1, 1, 1], 2), 6)
    2.0
    """
    c = np.asarray(list(counts.values()) if isinstance(counts, Mapping) else counts,
                   dtype=np.float64)
    c = c[c > 0]
    total = c.sum()
    if n >= total:
        return float(c.size)
    if n <= 0:
        return 0.0
    # C(N - c, n) / C(N, n) through log-gamma; 0 when N - c < n
    from scipy.special import gammaln

    def log_choose(a: np.ndarray | float, b: float) -> np.ndarray:
        return gammaln(np.asarray(a) + 1) - gammaln(b + 1) - gammaln(np.asarray(a) - b + 1)

    rest = total - c
    absent = np.where(rest >= n, np.exp(log_choose(rest, n) - log_choose(total, n)), 0.0)
    return float(np.sum(1.0 - absent))
