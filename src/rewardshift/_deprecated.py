"""Deprecated names that moved: they keep working for one release, with a warning.

A module whose public names moved sets ``__getattr__ = moved(__name__, {"old": "new.module"})``
(PEP 562): the old name is looked up in its new module only when used, so the old module does
not import its new home (which may sit on a higher floor, see tests/test_layers.py).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved"]

REMOVED_IN = "0.3"


def moved(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` forwarding each of ``names`` to its new module, with a warning."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target = names[name]
        warnings.warn(f"{module}.{name} moved to {target}.{name} (the old name goes in "
                      f"{REMOVED_IN})", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(target), name)

    return __getattr__
