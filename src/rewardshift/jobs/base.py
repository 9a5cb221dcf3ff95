"""What every job does the same way: claim a run directory, and refuse a finished one.

A finished run is marked by the file its job writes last (``summary.json``, or a story's
``report.html``); a job never writes into a folder that holds one, so a result is never
overwritten by accident.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.rundir import RunDir

__all__ = ["RunExistsError", "claim_run_dir", "resume_run_dir"]


class RunExistsError(InputError):
    """The output folder already holds a finished run, or other files."""


def claim_run_dir(out: str | os.PathLike[str], what: str, *, marker: str = "summary.json",
                  empty: bool = False) -> RunDir:
    """The run directory ``out`` for a new run, created if missing.

    ``what`` names a finished run in the error (``"finished audit"``, ``"story"``).

    Raises :class:`RunExistsError` when ``out`` holds ``marker`` (a finished run) or, with
    ``empty``, when it holds anything at all (an interrupted run's partial outputs).
    """
    out = Path(out)
    kind = what.removeprefix("finished ")
    if (out / marker).exists():
        raise RunExistsError(f"{out} already holds a {what} ({marker}); choose another "
                             "output folder or delete it")
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"{out} exists and is not a directory; choose another output folder")
    if empty and out.exists() and any(out.iterdir()):
        raise RunExistsError(f"{out} exists and is not an empty directory (an interrupted {kind} "
                             "leaves its partial outputs there); delete it or choose another "
                             "output folder")
    return RunDir.create(out.parent, out.name)


def resume_run_dir(out: str | os.PathLike[str], what: str, config: Mapping[str, Any], *,
                   saved: str, config_key: str, seed: int | None = None) -> RunDir:
    """A new run directory for a staged run, or the interrupted one of the same config.

    ``saved`` (e.g. ``"realpair.json"``) holds the configuration of the run that owns the
    folder; a folder with a different one, or non-empty without one, is refused, as is a
    finished run (``summary.json``). A new run gets ``config.json`` and ``saved``.
    """
    out = Path(out)
    cfg = dict(config)
    path = out / saved
    if path.exists() and not (out / "summary.json").exists():
        if json.loads(path.read_text(encoding="utf-8")) != cfg:
            raise RunExistsError(f"{out} holds an interrupted {what} with another "
                                 f"configuration ({saved}); delete it or choose another "
                                 "output folder")
        return RunDir(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "summary.json").exists():
        raise RunExistsError(f"{out} exists, is not empty and holds no {what}; choose "
                             "another output folder")
    rd = claim_run_dir(out, f"finished {what}")
    rd.write_config({config_key: cfg}, seeds=None if seed is None else {"seed": seed})
    rd.write_json(saved, cfg)
    return rd
