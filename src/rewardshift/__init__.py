"""rewardshift: measure reward-induced bias shift in generative models."""

from rewardshift._exceptions import (
    InputError,
    MetricUndefinedError,
    MissingDependencyError,
    RewardshiftError,
    SampleFileError,
)
from rewardshift.samples import Sample, read_samples, write_samples

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "MetricUndefinedError",
    "MissingDependencyError",
    "RewardshiftError",
    "Sample",
    "SampleFileError",
    "__version__",
    "read_samples",
    "write_samples",
]
