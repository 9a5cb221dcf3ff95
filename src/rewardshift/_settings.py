"""Reading a settings file (TOML or JSON) into a plain dict, with errors naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError

__all__ = ["read_settings_file"]


def read_settings_file(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The table in ``path`` (``.toml`` is TOML, anything else JSON); ``what`` names it in errors.

    A top-level key equal to ``what`` is unwrapped, so ``{"lm": {...}}`` and ``{...}`` both
    work for ``what="lm"``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {what} config {path}: {e.strerror}") from e
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
                import tomli as tomllib
            d = tomllib.loads(raw.decode("utf-8"))
        else:
            d = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                         f"{e}") from e
    if not isinstance(d, dict):
        raise InputError(f"{path}: the config must be a table/object of {what} settings")
    d = d.get(what, d)
    if not isinstance(d, dict):
        raise InputError(f"{path}: '{what}' must be a table/object of settings")
    return d
