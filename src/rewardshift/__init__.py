"""rewardshift: measure reward-induced bias shift in generative models.

The names below are the public API. The heavier ones (the measure's config pulls in scipy)
load on first use, so ``import rewardshift`` stays quick. The measurement itself is
:func:`rewardshift.measure.measure` (the module shares the function's name).
"""

from __future__ import annotations

import importlib
from typing import Any

from rewardshift._exceptions import (
    InputError,
    MetricUndefinedError,
    MissingDependencyError,
    RewardshiftError,
    SampleFileError,
)
from rewardshift.samples import Sample, read_samples, write_samples

__version__ = "0.1.0"

#: Public names loaded on first use: name -> module.
_LAZY = {
    "MeasureConfig": "rewardshift.measure",
    "MeasureResult": "rewardshift.measure",
    "Progress": "rewardshift.progress",
    "RunDir": "rewardshift.rundir",
}

__all__ = [
    "InputError",
    "MeasureConfig",
    "MeasureResult",
    "MetricUndefinedError",
    "MissingDependencyError",
    "Progress",
    "RewardshiftError",
    "RunDir",
    "Sample",
    "SampleFileError",
    "__version__",
    "read_samples",
    "write_samples",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rewardshift' has no attribute {name!r}")
