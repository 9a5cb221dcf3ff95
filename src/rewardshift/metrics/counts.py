"""Deprecated alias (removed in 0.3): the subset n-gram counts moved to the n-gram engine.

:class:`~rewardshift.metrics.ngrams.NgramIndex` is now in :mod:`rewardshift.metrics.ngrams`
and :func:`~rewardshift.metrics.lexical.ead_from_counts` in :mod:`rewardshift.metrics.lexical`;
the old names keep working for one release, with a DeprecationWarning.
"""

from __future__ import annotations

from rewardshift._deprecated import moved

__all__: list[str] = []  # the old names are served by __getattr__ only

__getattr__ = moved(__name__, {"NgramIndex": "rewardshift.metrics.ngrams",
                               "ead_from_counts": "rewardshift.metrics.lexical"})
