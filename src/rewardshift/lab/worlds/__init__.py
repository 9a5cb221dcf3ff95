"""Registry of worlds: ``get_world(name, **config)``.

=============  ===============================================================  ==========
name           outcomes                                                         support
=============  ===============================================================  ==========
``shatter``    brittle objects breaking under impact (:mod:`.shatter`)          continuous
``personas``   customer personas with population frequencies (:mod:`.personas`)  finite
=============  ===============================================================  ==========
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.lab.world import World
from rewardshift.lab.worlds.personas import PersonasConfig, PersonasWorld
from rewardshift.lab.worlds.shatter import ShatterConfig, ShatterWorld

__all__ = ["WORLDS", "get_world"]

#: name -> (World class, its config dataclass); the class is called with a config
WORLDS: dict[str, tuple[Callable[[Any], World], type]] = {
    "personas": (PersonasWorld, PersonasConfig),
    "shatter": (ShatterWorld, ShatterConfig),
}


def get_world(name: str, **config: Any) -> World:
    """Build a world by name; keyword arguments are fields of its config dataclass.

    Examples
    --------
    >>> get_world("shatter", base_dispersion=1.2).config.base_dispersion
    1.2
    """
    if name not in WORLDS:
        raise InputError(f"unknown world {name!r}; choose one of {sorted(WORLDS)}")
    cls, cfg_cls = WORLDS[name]
    known = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise InputError(f"world {name!r} has no config field(s) {unknown}; "
                         f"its fields are {sorted(known)}")
    return cls(cfg_cls(**config))
