"""Watch a training run for diversity collapse and reward hacking.

The core here needs no TRL:

* :func:`~rewardshift.monitor.stats.step_statistics` -- one step's batch of completions (and
  their proxy / gold rewards) to a flat ``{name: float}`` row: within- and across-group
  distinct-2, self-BLEU-4 and embedding diversity, repetition rate, length, reward means and
  the proxy-gold rank correlation, all computed by :mod:`rewardshift.metrics`.
* :class:`~rewardshift.monitor.alarm.HackingAlarm` -- a documented, deterministic rule over the
  series of those rows that fires an :class:`~rewardshift.monitor.alarm.AlarmEvent` when the
  proxy keeps rising while the gold falls (or, with no gold, while diversity collapses).

The TRL / transformers integration (how to plug it in: :mod:`rewardshift.monitor.training`):

* :class:`~rewardshift.monitor.training.TrainingMonitor` and its
  :class:`~rewardshift.monitor.config.MonitorConfig` -- observe each step, log, alarm;
* its TRL reward functions (:mod:`rewardshift.monitor.rewards`);
* :class:`~rewardshift.monitor.callbacks.MonitorCallback` and
  :class:`~rewardshift.monitor.callbacks.SamplingMonitorCallback`, which load ``transformers``
  only when first used, so ``import rewardshift.monitor`` stays light and works without the
  ``lm`` extra.
"""

from typing import Any

from rewardshift.monitor.alarm import AlarmConfig, AlarmEvent, HackingAlarm
from rewardshift.monitor.config import MonitorConfig
from rewardshift.monitor.stats import StepStatistics, step_statistics
from rewardshift.monitor.training import TrainingMonitor

_CALLBACK_NAMES = ("MonitorCallback", "SamplingMonitorCallback")

__all__ = ["AlarmConfig", "AlarmEvent", "HackingAlarm", "MonitorCallback", "MonitorConfig",
           "SamplingMonitorCallback", "StepStatistics", "TrainingMonitor", "step_statistics"]


def __getattr__(name: str) -> Any:
    if name in _CALLBACK_NAMES:  # imports transformers; MissingDependencyError without lm extra
        from rewardshift.monitor import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module 'rewardshift.monitor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CALLBACK_NAMES))
