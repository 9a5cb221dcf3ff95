"""Settings of the training monitor: :class:`MonitorConfig` (no TRL or torch needed)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.monitor.alarm import AlarmConfig

__all__ = ["MonitorConfig"]


@dataclass(frozen=True)
class MonitorConfig(Config):
    """Settings of :class:`~rewardshift.monitor.training.TrainingMonitor`.

    ``early_stop=True`` and ``alarm.stop_training=True`` mean the same: either one stops
    training when the alarm fires. The fields keep what was given; :attr:`stops_training` and
    :attr:`effective_alarm` say what holds.
    """

    # --- what is computed
    embed: bool = field(default=False, metadata={
        "help": "Also compute embedding diversity within and across groups (embeds every "
                "observed completion with a sentence encoder; costs time on each step)."})
    embed_model: Any = field(default=None, metadata={
        "help": "Encoder name, path or object for embed=True; None for the default of "
                "rewardshift.metrics.embed.embed_texts."})
    tokenizer: Callable[[str], list[str]] | None = field(default=None, metadata={
        "help": "Splits a completion into tokens for the lexical statistics and the length; "
                "None for rewardshift's WordTokenizer (words, not model tokens)."})
    every_n_steps: int = field(default=1, metadata={
        "help": "Observe the training batches of steps whose global_step is a multiple of this; "
                ">= 1. Raise it to cut the overhead (the alarm then sees fewer points)."})
    # --- the alarm
    alarm: AlarmConfig = field(default_factory=AlarmConfig, metadata={
        "help": "The hacking alarm's rule and thresholds (rewardshift.monitor.alarm)."})
    early_stop: bool = field(default=False, metadata={
        "help": "Stop training when the alarm fires (MonitorCallback / SamplingMonitorCallback)."})
    # --- logging
    log_prefix: str = field(default="monitor/", metadata={
        "help": "Prefix of every key sent to the trainer's loggers (not of metrics.jsonl)."})
    log_gold_per_sample: bool = field(default=True, metadata={
        "help": "Add each completion's gold reward as a 'gold' column of TRL's completions table "
                "(log_extra), when there is a gold_fn."})
    flush_every: int = field(default=10, metadata={
        "help": "Rows held in memory before metrics.jsonl is appended (one write and fsync per "
                "flush, ~5 ms on a slow disk); also flushed when the alarm fires, at the end of "
                "training (the callbacks) and by TrainingMonitor.flush(). >= 1."})

    def __post_init__(self) -> None:
        for name in ("embed", "early_stop", "log_gold_per_sample"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"MonitorConfig.{name} must be True or False, got "
                                 f"{getattr(self, name)!r}")
        for name in ("every_n_steps", "flush_every"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise InputError(f"MonitorConfig.{name}={n!r} should be an int >= 1")
        if not isinstance(self.alarm, AlarmConfig):
            raise InputError("MonitorConfig.alarm must be an AlarmConfig, got "
                             f"{type(self.alarm).__name__}; build it with AlarmConfig(...)")
        if not isinstance(self.log_prefix, str):
            raise InputError(f"MonitorConfig.log_prefix must be a str, got {self.log_prefix!r}")
        if self.tokenizer is not None and not callable(self.tokenizer):
            raise InputError("MonitorConfig.tokenizer must be a callable str -> list[str] or "
                             f"None, got {type(self.tokenizer).__name__}")

    @property
    def stops_training(self) -> bool:
        """Whether the alarm stops training: ``early_stop`` or ``alarm.stop_training``."""
        return self.early_stop or self.alarm.stop_training

    @property
    def effective_alarm(self) -> AlarmConfig:
        """The alarm's config with ``stop_training`` set when either spelling asks for it."""
        if self.stops_training and not self.alarm.stop_training:
            return dataclasses.replace(self.alarm, stop_training=True)
        return self.alarm


def _config_record(config: MonitorConfig) -> dict[str, Any]:
    """The config as plain values (no deep copy of an encoder object, unlike ``asdict``)."""
    out = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    out["alarm"] = dataclasses.asdict(config.alarm)
    for name in ("embed_model", "tokenizer"):
        if out[name] is not None and not isinstance(out[name], (str, os.PathLike)):
            out[name] = type(out[name]).__name__
    return out
