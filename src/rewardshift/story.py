"""Deprecated: the story moved to :mod:`rewardshift.jobs.story` (it composes four jobs)."""

from rewardshift._deprecated import moved

__getattr__ = moved(__name__, {"run_story": "rewardshift.jobs.story"})
