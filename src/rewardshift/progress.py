"""Progress: the one way every long step reports how far it has got.

An engine takes ``progress``, a callable ``progress(stage, done, total)``, and calls it as work
finishes; it never draws anything itself. The command line renders these calls with rich (a bar
on a terminal, a plain line at least every 30 s elsewhere); a notebook or a job can pass its
own. ``None`` means nobody is watching.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

__all__ = ["Progress", "StageClock", "no_progress"]


class Progress(Protocol):
    """``progress(stage, done, total)``: ``done`` of ``total`` units of ``stage`` are finished.

    Stages sharing a prefix before ``":"`` (``"dpo: step"``) are one task to a display.
    """

    def __call__(self, stage: str, done: int, total: int, /) -> None: ...


def no_progress(stage: str, done: int, total: int, /) -> None:
    """The progress callback that reports to nobody."""


class StageClock:
    """Times a pipeline's named stages and reports each one's end to ``progress``.

    ``done(stage)`` records the seconds since the previous stage ended (0 for a ``reused``
    stage, whose outputs an earlier, interrupted run left) and calls
    ``progress(f"{prefix}: {stage}", i + 1, len(stages))``.
    """

    def __init__(self, stages: Sequence[str], progress: Progress | None = None, *,
                 prefix: str = "", digits: int = 2) -> None:
        self.stages = list(stages)
        self.times: dict[str, float] = {}
        self._progress = progress or no_progress
        self._prefix = f"{prefix}: " if prefix else ""
        self._digits = digits
        self._t = time.perf_counter()

    def done(self, stage: str, *, reused: bool = False) -> None:
        """Mark ``stage`` finished (it must be one of ``stages``)."""
        now = time.perf_counter()
        self.times[stage] = 0.0 if reused else round(now - self._t, self._digits)
        self._t = now
        self._progress(self._prefix + stage + (" (reused)" if reused else ""),
                       self.stages.index(stage) + 1, len(self.stages))
