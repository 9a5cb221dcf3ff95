"""Deprecated alias (removed in 0.3): the TRL integration was split by job.

:class:`~rewardshift.monitor.config.MonitorConfig` is in :mod:`rewardshift.monitor.config`,
:class:`~rewardshift.monitor.training.TrainingMonitor` in :mod:`rewardshift.monitor.training`
(whose docstring tells how to plug it into a TRL run), the callbacks in
:mod:`rewardshift.monitor.callbacks`; all four are importable from :mod:`rewardshift.monitor`.
"""

import warnings

from rewardshift.monitor.callbacks import (
    MonitorCallback,
    SamplingMonitorCallback,
    sample_completions,
)
from rewardshift.monitor.config import MonitorConfig
from rewardshift.monitor.training import TrainingMonitor

warnings.warn("rewardshift.monitor.trl is split into rewardshift.monitor.config, .training and "
              ".callbacks; import its names from rewardshift.monitor", DeprecationWarning,
              stacklevel=2)

__all__ = ["MonitorCallback", "MonitorConfig", "SamplingMonitorCallback", "TrainingMonitor",
           "sample_completions"]
