"""Timing shared by the benchmark scripts (imported from the script's own folder)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_of(fn: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """Best-of-``repeats`` wall seconds of ``fn()`` and its last value."""
    best, value = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value  # type: ignore[return-value]
