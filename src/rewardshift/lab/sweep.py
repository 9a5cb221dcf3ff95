"""Deprecated: the sweep runner moved to :mod:`rewardshift.jobs.sweep` (a sweep composes jobs)."""

from rewardshift._deprecated import moved

__getattr__ = moved(__name__, {
    "JOBS": "rewardshift.jobs.sweep",
    "RunSpec": "rewardshift.jobs.sweep",
    "SweepConfig": "rewardshift.jobs.sweep",
    "SweepResult": "rewardshift.jobs.sweep",
    "expand_grid": "rewardshift.jobs.sweep",
    "load_sweep": "rewardshift.jobs.sweep",
    "run_sweep": "rewardshift.jobs.sweep",
    "measure_job": "rewardshift.jobs.measure",
})
