"""Deprecated: use :func:`rewardshift.config.read_settings_file` (kept for one release)."""

from __future__ import annotations

import warnings

from rewardshift.config import read_settings_file

__all__ = ["read_settings_file"]

warnings.warn("rewardshift._settings is deprecated; import read_settings_file from "
              "rewardshift.config", DeprecationWarning, stacklevel=2)
