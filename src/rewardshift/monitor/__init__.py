"""Watch a training run for diversity collapse and reward hacking.

The core here needs no TRL:

* :func:`~rewardshift.monitor.stats.step_statistics` -- one step's batch of completions (and
  their proxy / gold rewards) to a flat ``{name: float}`` row: within- and across-group
  distinct-2, self-BLEU-4 and embedding diversity, repetition rate, length, reward means and
  the proxy-gold rank correlation, all computed by :mod:`rewardshift.metrics`.
* :class:`~rewardshift.monitor.alarm.HackingAlarm` -- a documented, deterministic rule over the
  series of those rows that fires an :class:`~rewardshift.monitor.alarm.AlarmEvent` when the
  proxy keeps rising while the gold falls (or, with no gold, while diversity collapses).
"""

from rewardshift.monitor.alarm import AlarmConfig, AlarmEvent, HackingAlarm
from rewardshift.monitor.stats import StepStatistics, step_statistics

__all__ = ["AlarmConfig", "AlarmEvent", "HackingAlarm", "StepStatistics", "step_statistics"]
