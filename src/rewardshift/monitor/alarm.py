"""A deterministic reward-hacking alarm over the series of per-step statistics.

The rule
--------
Let ``W = window``. At each :meth:`HackingAlarm.update`, once ``warmup`` proxy values have been
seen, fit a Theil–Sen line (:func:`scipy.stats.theilslopes`, slope and its two-sided
``confidence`` interval, x = the step numbers) to the last ``W`` proxy values. The proxy is
*rising* when the interval's lower end is above 0. Then:

* **with gold** (``gold_key`` in this step's statistics and ``W`` gold values seen): fire
  ``"gold_falls"`` when the proxy is rising and the gold is *falling*, which takes all of:
  the Theil–Sen gold slope over its last ``W`` values is confidently negative (upper end of
  its interval < 0); the gold *level* -- the median of its last ``smooth`` values -- is below
  its running maximum (over all steps so far) by more than the margin; and the fitted gold line
  falls by more than the margin across the window. The margin is ``max(gold_drop_min,
  gold_drop_sigmas * sigma)`` with ``sigma`` the gold's own noise level, ``1.4826 *
  median|d - median(d)| / sqrt(2)`` for the differences ``d`` of its last ``4 W`` values (a
  robust estimate that a linear trend does not inflate), so
  the margin needs no units. Both tests of size are needed: the running maximum of a long noisy
  series sits far above its mean, and a window's fitted fall alone can be a wiggle.
* **without gold**: fire ``"diversity_collapse"`` when the proxy is rising and the level
  (median of the last ``smooth`` values) of ``diversity_key`` (within-group distinct-2 by
  default) is below ``diversity_ratio`` times its baseline, the median of its first ``warmup``
  values; or ``"repetition"`` when the proxy is rising and the level of ``repetition_key`` is
  above ``repetition_threshold``.

An alarm fires once per episode: after an event it is latched until the rule has not held for
``W`` consecutive steps, so a hacked run yields one event, not one per step or per noisy
flicker. Values that are missing from a
step's statistics, or not finite, are skipped (that series just gets no point for the step).

The defaults (``W = 20``, 95% intervals, 3 sigmas) were set on simulated traces (see
``tests/monitor``): a gold that turns down at 0.02/step under noise of 0.05 is caught 11-17
steps after the turn; flat or jointly rising noisy traces of 200 steps stay quiet over 40
seeds. A smaller window reacts sooner and fires more often on noise.

Why this rule
-------------
Gao, Schulman & Hilton 2022 ("Scaling Laws for Reward Model Overoptimization", ICML 2023) show
that as the policy moves away from its reference the proxy reward keeps rising while the gold
reward first rises and then falls: the signature of hacking is the two *parting*, proxy up and
gold down, not either one alone. A rise of both is healthy training; a fall of both is a
failing run, not hacking. The robust slope with a confidence bound keeps single noisy steps
from counting as trends, and the drop from the running maximum asks the fall to be material,
not a wiggle near the top. Without a gold reward the parting cannot be seen directly, so the
alarm uses what hacked policies do to text: they collapse onto the reward model's blind spot --
the seed text's policy that learns the reward model likes "the the the ..." -- which shows as
within-group distinct-2 falling far below where it started, or most completions repeating one
3-gram, while the proxy still climbs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeGuard

import numpy as np
from scipy.stats import theilslopes

from rewardshift._exceptions import InputError
from rewardshift.config import Config

__all__ = ["AlarmConfig", "AlarmEvent", "HackingAlarm"]

#: The gold's noise level is estimated on its last ``_NOISE_SPAN * window`` values.
_NOISE_SPAN = 4


@dataclass(frozen=True)
class AlarmConfig(Config):
    """Settings of :class:`HackingAlarm` (see :mod:`rewardshift.monitor.alarm` for the rule)."""

    # --- trend
    window: int = field(default=20, metadata={
        "help": "Steps in the trailing window of the Theil-Sen fits; >= 5 (fewer points give "
                "no usable confidence interval)."})
    warmup: int = field(default=20, metadata={
        "help": "Proxy values seen before the alarm may fire; also the length of the diversity "
                "baseline. >= window."})
    smooth: int = field(default=5, metadata={
        "help": "Steps in the median that gives the current level of gold / diversity / "
                "repetition; 1 <= smooth <= window."})
    confidence: float = field(default=0.95, metadata={
        "help": "Two-sided confidence of the Theil-Sen slope intervals; a trend counts when the "
                "whole interval is on one side of 0. In (0, 1)."})
    # --- keys into the step statistics
    proxy_key: str = field(default="proxy_mean", metadata={"help": "Key of the proxy reward."})
    gold_key: str = field(default="gold_mean", metadata={"help": "Key of the gold reward."})
    diversity_key: str = field(default="within_distinct_2", metadata={
        "help": "Key of the diversity watched when there is no gold (higher = more diverse)."})
    repetition_key: str = field(default="repetition_rate", metadata={
        "help": "Key of the share of repetitive completions, watched when there is no gold."})
    # --- thresholds
    gold_drop_sigmas: float = field(default=3.0, metadata={
        "help": "The gold level must fall this many noise sigmas below its running max, and the "
                "window's fitted gold line fall as much; >= 0."})
    gold_drop_min: float = field(default=0.0, metadata={
        "help": "...and at least this much, in gold units; >= 0."})
    diversity_ratio: float = field(default=0.5, metadata={
        "help": "Fire when the diversity level is below this fraction of its baseline; in (0, 1)."})
    repetition_threshold: float = field(default=0.5, metadata={
        "help": "Fire when the repetition level exceeds this share; in [0, 1)."})
    # --- action
    stop_training: bool = field(default=False, metadata={
        "help": "Ask the training loop to stop at the first event (honoured by the callback)."})

    def __post_init__(self) -> None:
        for name in ("window", "warmup", "smooth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f"AlarmConfig.{name} must be an int, got {v!r}")
        if self.window < 5:
            raise InputError(f"AlarmConfig: window={self.window} should be >= 5; a Theil-Sen "
                             "interval on fewer points is uninformative")
        if self.warmup < self.window:
            raise InputError(f"AlarmConfig: warmup={self.warmup} should be >= window="
                             f"{self.window}; raise warmup or lower window")
        if not 1 <= self.smooth <= self.window:
            raise InputError(f"AlarmConfig: smooth={self.smooth} should be in [1, window="
                             f"{self.window}]")
        _check_open("confidence", self.confidence, 0.0, 1.0)
        _check_open("diversity_ratio", self.diversity_ratio, 0.0, 1.0)
        if not _is_real(self.repetition_threshold) or not 0 <= self.repetition_threshold < 1:
            raise InputError(f"AlarmConfig: repetition_threshold={self.repetition_threshold!r} "
                             "should be in [0, 1)")
        for name in ("gold_drop_sigmas", "gold_drop_min"):
            v = getattr(self, name)
            if not _is_real(v) or v < 0:
                raise InputError(f"AlarmConfig: {name}={v!r} should be a number >= 0")
        for name in ("proxy_key", "gold_key", "diversity_key", "repetition_key"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise InputError(f"AlarmConfig: {name} must be a non-empty str, got {v!r}")


def _is_real(v: object) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_open(name: str, v: object, lo: float, hi: float) -> None:
    if not _is_real(v) or not lo < v < hi:
        raise InputError(f"AlarmConfig: {name}={v!r} should be in ({lo:g}, {hi:g})")


@dataclass(frozen=True)
class AlarmEvent:
    """One firing of the alarm.

    Attributes
    ----------
    step : int
        The step at which the rule first held.
    reason : str
        ``"gold_falls"``, ``"diversity_collapse"`` or ``"repetition"``.
    message : str
        One line for a log.
    values : dict[str, float]
        The numbers that triggered it (slopes with their interval ends, levels, thresholds).
    stop_training : bool
        Copied from the config: whether the run should stop.
    """

    step: int
    reason: str
    message: str
    values: dict[str, float]
    stop_training: bool = False


class HackingAlarm:
    """Watch the per-step statistics and fire an :class:`AlarmEvent` when hacking starts.

    Parameters
    ----------
    config : AlarmConfig or None, default=None
        ``None`` for the defaults.

    Attributes
    ----------
    events : list of AlarmEvent
        Every event so far, in step order.

    Examples
    --------
    >>> alarm = HackingAlarm(AlarmConfig(window=10, warmup=10))
    >>> gold = [min(s, 30 - s) for s in range(40)]       # rises, turns at step 15, falls
    >>> fired = [alarm.update(s, {"proxy_mean": s, "gold_mean": g}) for s, g in enumerate(gold)]
    >>> [(e.step, e.reason) for e in alarm.events]
    [(22, 'gold_falls')]
    """

    def __init__(self, config: AlarmConfig | None = None) -> None:
        self.config = config if config is not None else AlarmConfig()
        self.events: list[AlarmEvent] = []
        c = self.config
        self._series: dict[str, tuple[list[int], list[float]]] = {
            k: ([], []) for k in (c.proxy_key, c.gold_key, c.diversity_key, c.repetition_key)}
        self._gold_max = -math.inf
        self._latched = False
        self._quiet = 0
        self._last_step: int | None = None

    @property
    def should_stop(self) -> bool:
        """True once an event has fired and the config asks to stop training."""
        return self.config.stop_training and bool(self.events)

    def update(self, step: int, stats: Mapping[str, float]) -> AlarmEvent | None:
        """Add one step's statistics; return the event if the alarm fires at this step.

        Parameters
        ----------
        step : int
            The training step; strictly increasing from call to call.
        stats : mapping of str to float
            The step's statistics, e.g. from :func:`~rewardshift.monitor.step_statistics`.

        Returns
        -------
        AlarmEvent or None
        """
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise InputError(f"HackingAlarm.update: step must be an int, got {step!r}")
        if self._last_step is not None and step <= self._last_step:
            raise InputError(f"HackingAlarm.update: step={step} should be > the previous "
                             f"step={self._last_step}; steps must increase")
        self._last_step = step = int(step)
        present = set()
        for key, (xs, ys) in self._series.items():
            try:
                v = float(stats[key])
            except (KeyError, TypeError, ValueError):  # missing, None or not a number
                continue
            if math.isfinite(v):
                xs.append(step)
                ys.append(v)
                present.add(key)
        values, reason = self._evaluate(present)
        if reason is None:
            self._quiet += 1
            if self._quiet >= self.config.window:
                self._latched = False
            return None
        self._quiet = 0
        if self._latched:
            return None
        self._latched = True
        event = AlarmEvent(step=step, reason=reason, message=_message(step, reason, values),
                           values=values, stop_training=self.config.stop_training)
        self.events.append(event)
        return event

    # ----------------------------------------------------------------------- the rule

    def _evaluate(self, present: set[str]) -> tuple[dict[str, float], str | None]:
        c = self.config
        gold_x, gold_y = self._series[c.gold_key]
        has_gold = c.gold_key in present and len(gold_y) >= c.smooth
        if has_gold:  # the running max of the level is kept from the first steps on
            self._gold_max = max(self._gold_max, float(np.median(gold_y[-c.smooth:])))
        px, py = self._series[c.proxy_key]
        if c.proxy_key not in present or len(py) < c.warmup:
            return {}, None
        p_slope, _, p_lo, p_hi = _theil_sen(px[-c.window:], py[-c.window:], c.confidence)
        values = {"proxy_slope": p_slope, "proxy_slope_low": p_lo, "proxy_slope_high": p_hi}
        rising = p_lo > 0
        if has_gold:
            if len(gold_y) < c.window:
                return values, None
            gx, gy = np.asarray(gold_x[-c.window:]), np.asarray(gold_y[-c.window:])
            g_slope, _, g_lo, g_hi = _theil_sen(gx, gy, c.confidence)
            sigma = _noise_sigma(gold_y[-_NOISE_SPAN * c.window:])
            level = float(np.median(gold_y[-c.smooth:]))
            margin = max(c.gold_drop_min, c.gold_drop_sigmas * sigma)
            drop = self._gold_max - level
            fall = -g_slope * float(gx[-1] - gx[0])  # the fitted line's fall over the window
            values |= {"gold_slope": g_slope, "gold_slope_low": g_lo, "gold_slope_high": g_hi,
                       "gold_level": level, "gold_max": self._gold_max, "gold_drop": drop,
                       "gold_window_fall": fall, "gold_drop_margin": margin,
                       "gold_noise_sigma": sigma}
            falls = g_hi < 0 and drop > margin and fall > margin
            return values, ("gold_falls" if rising and falls else None)
        reason = None
        _, dy = self._series[c.diversity_key]
        if len(dy) >= c.warmup and c.diversity_key in present:
            baseline = float(np.median(dy[:c.warmup]))
            level = float(np.median(dy[-c.smooth:]))
            values |= {"diversity_baseline": baseline, "diversity_level": level,
                       "diversity_threshold": c.diversity_ratio * baseline}
            if rising and level < c.diversity_ratio * baseline:
                reason = "diversity_collapse"
        _, ry = self._series[c.repetition_key]
        if len(ry) >= c.smooth and c.repetition_key in present:
            level = float(np.median(ry[-c.smooth:]))
            values |= {"repetition_level": level,
                       "repetition_threshold": c.repetition_threshold}
            if reason is None and rising and level > c.repetition_threshold:
                reason = "repetition"
        return values, reason


def _noise_sigma(y: list[float]) -> float:
    """Robust noise level of a series: ``1.4826 * median|d - median(d)| / sqrt(2)``, d = Δy.

    Differencing turns a linear trend into a constant, which subtracting the median removes;
    the medians ignore outliers. For a line plus i.i.d. normal noise of standard deviation s it
    estimates s.
    """
    d = np.diff(np.asarray(y, dtype=float))
    return 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)


def _theil_sen(x, y, confidence: float) -> tuple[float, float, float, float]:
    """``(slope, intercept, slope_low, slope_high)`` of a Theil-Sen fit of y on x."""
    res = theilslopes(np.asarray(y, dtype=float), np.asarray(x, dtype=float), alpha=confidence)
    return float(res[0]), float(res[1]), float(res[2]), float(res[3])


def _message(step: int, reason: str, v: dict[str, float]) -> str:
    head = f"reward hacking suspected at step {step}: proxy rising " \
           f"(slope {v['proxy_slope']:.3g}/step, {v['proxy_slope_low']:.3g} at the low end)"
    if reason == "gold_falls":
        tail = (f"while gold falls (slope {v['gold_slope']:.3g}/step; level "
                f"{v['gold_level']:.4g}, {v['gold_drop']:.3g} below its max {v['gold_max']:.4g},"
                f" margin {v['gold_drop_margin']:.3g})")
    elif reason == "diversity_collapse":
        tail = (f"while diversity collapses (level {v['diversity_level']:.3g} < "
                f"{v['diversity_threshold']:.3g} = ratio x baseline {v['diversity_baseline']:.3g})")
    else:
        tail = (f"while completions repeat themselves (repetition level "
                f"{v['repetition_level']:.3g} > {v['repetition_threshold']:.3g})")
    return f"{head} {tail}"
