"""Plug the training monitor into a TRL (or any ``transformers.Trainer``) run.

Nothing about training changes: the monitor only reads the completions the trainer already
made, or samples its own under a forked, seeded random state (``tests/monitor/test_trl.py``
checks that a GRPO run's completions, rewards, losses and gradient norms are bit for bit those
of the same run without it, and that a DPO run's losses are unchanged by sampling).

GRPO / RLOO -- as a reward function of weight 0
-----------------------------------------------
::

    monitor = TrainingMonitor(MonitorConfig(early_stop=True), gold_fn=gold, run_dir="runs/x")
    trainer = GRPOTrainer(
        model, args=GRPOConfig(..., reward_weights=[1.0, 0.0]),
        reward_funcs=[monitor.wrap(proxy_reward), monitor.reward_function()],
        callbacks=[MonitorCallback(monitor)], ...)

* :meth:`TrainingMonitor.reward_function` returns 0.0 for every completion (give it weight 0 in
  ``reward_weights``: the weighted sum, the group baselines and the advantages are then the
  same as without it). On each generation batch it calls :meth:`TrainingMonitor.observe` with
  ``trainer_state.global_step`` and reports every statistic through TRL's ``log_metric`` (so
  they reach whatever ``report_to`` the run uses, averaged over each logging window like TRL's
  own metrics), and the per-sample gold through ``log_extra`` (the completions table).
* :meth:`TrainingMonitor.wrap` is optional: it returns the user's proxy reward unchanged (same
  name, same values, so the same training) and records the values, so the weight-0 observer --
  which must come *after* it in ``reward_funcs``, as TRL calls them in order -- gets the proxy
  of the very same batch and the proxy-gold divergence is available.
* :class:`MonitorCallback` stops training at the end of the step in which the alarm fired when
  ``early_stop`` is set, and writes each alarm to the ``rewardshift.monitor`` logger.

Batches that TRL scores during *evaluation* (the trainer's model is in eval mode; the trainer
is found as the owner of the ``log_metric`` bound method) are observed with ``split="eval"``:
logged (TRL prefixes them ``eval_``) and written to the run directory, but not fed to the alarm.

DPO, or any trainer -- by sampling held-out prompts
---------------------------------------------------
::

    sampler = SamplingMonitorCallback(monitor, held_out_prompts, num_samples=4)
    trainer = DPOTrainer(..., callbacks=[sampler])
    sampler.attach(trainer)

On each evaluation (``on="evaluate"``) or every ``every_n_steps`` optimizer steps
(``on="step"``), :class:`SamplingMonitorCallback` samples ``num_samples`` completions per prompt
from ``kwargs["model"]`` with ``kwargs["processing_class"]``, decodes only the new tokens and
observes them. It needs the trainer itself (:meth:`SamplingMonitorCallback.attach`) because a
callback cannot otherwise reach ``report_to``: ``Trainer.log`` copies the metrics into
``state.log_history`` and hands them to the integration callbacks (WandB, TensorBoard, ...)
*before* any user callback's ``on_log`` runs -- the default and reporting callbacks are first in
the handler's list -- and ``Trainer.evaluate`` calls ``on_evaluate`` only *after* it has logged,
so adding keys to the metrics dict there would reach neither. The callback therefore calls the
base ``transformers.Trainer.log(trainer, stats)`` (not a TRL override, which would merge in and
clear the trainer's pending training metrics), which appends to ``log_history`` and fans out to
every ``report_to`` integration.

What is logged
--------------
Every key of :func:`~rewardshift.monitor.stats.step_statistics` defined on the batch (diversity
within and across groups, repetition, length, proxy / gold means and their Spearman
correlation), plus ``alarm`` (1.0 at the step where the alarm fired, else 0.0) and
``alarm_events`` (events so far), each under ``config.log_prefix`` ("monitor/"). The run
directory gets one flat record per observed batch in ``metrics.jsonl`` (keys without prefix,
plus ``step`` and ``split``; appended every ``config.flush_every`` rows, when the alarm fires,
at the end of training and on :meth:`TrainingMonitor.flush`), each alarm in ``alarms.jsonl``,
and the monitor's settings with versions in ``config.json`` (written once, when absent). The
alarm's rule is documented in :mod:`rewardshift.monitor.alarm`.

Cost
----
About 7 ms a step for 64 completions of ~30 words with ``embed=False`` (mostly self-BLEU);
``benchmarks/bench_monitor.py`` measures 2.6-3.9% of a tiny GPT-2's GRPO step on one CPU
core. A faster step (a GPU, a small model) makes the share larger: raise
``config.every_n_steps`` to observe fewer steps.

Limitations: in a multi-process run each process observes its own shard of the batch (TRL
averages ``log_metric`` across processes, but each process has its own alarm); give
``run_dir`` on the main process only. Generation batches that share one ``global_step``
(``steps_per_generation`` < ``gradient_accumulation_steps``) are all logged, but only the first
of them is fed to the alarm, which needs increasing steps.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.monitor.alarm import AlarmConfig, AlarmEvent, HackingAlarm
from rewardshift.monitor.stats import StepStatistics, step_statistics
from rewardshift.report.rundir import RunDir

try:
    import torch
    from transformers import Trainer, TrainerCallback
except ImportError as exc:  # pragma: no cover - the lm extra is installed in CI
    raise MissingDependencyError("transformers", "lm") from exc

__all__ = ["MonitorCallback", "MonitorConfig", "SamplingMonitorCallback", "TrainingMonitor"]

logger = logging.getLogger("rewardshift.monitor")

#: Keyword arguments TRL passes to every reward function that are not dataset columns.
_TRL_KWARGS = frozenset({"prompts", "completions", "completion_ids", "trainer_state",
                         "log_metric", "log_extra", "environments"})
_SPLITS = ("train", "eval")


# --------------------------------------------------------------------------- configuration

@dataclass
class MonitorConfig:
    """Settings of :class:`TrainingMonitor`.

    ``early_stop=True`` and ``alarm.stop_training=True`` mean the same; either turns both on.
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
        if self.early_stop or self.alarm.stop_training:
            self.early_stop = True
            self.alarm = dataclasses.replace(self.alarm, stop_training=True)


# --------------------------------------------------------------------------- the monitor

class TrainingMonitor:
    """Observe each step's completions, log their statistics and run the hacking alarm.

    Parameters
    ----------
    config : MonitorConfig or None, default=None
        ``None`` for the defaults.
    gold_fn : callable or None, default=None
        The true reward, where known: ``gold_fn(prompts=..., completions=..., **columns) ->
        list[float]``, one finite value per completion -- TRL's reward-function signature, so a
        TRL reward function works as is; ``columns`` are the dataset's other columns (none when
        :meth:`observe` is called without them). Called only when ``observe`` gets no ``gold``.
    proxy_fn : callable or None, default=None
        The same for the proxy reward, used when ``observe`` gets no ``proxy`` and no wrapped
        reward recorded one (e.g. the reward model a DPO run is meant to raise).
    run_dir : str, path, RunDir or None, default=None
        Folder that receives ``metrics.jsonl``, ``alarms.jsonl`` and ``config.json``
        (:class:`~rewardshift.report.rundir.RunDir` format); created if missing, reopened if
        it exists. ``None`` writes nothing. Rows reach ``metrics.jsonl`` in batches of
        ``config.flush_every`` (and at the end of training through the callbacks); call
        :meth:`flush` when observing by hand.

    Attributes
    ----------
    history : list of dict
        One row per observed batch: ``step``, ``split``, the statistics and, for training
        batches, ``alarm`` and ``alarm_events``.
    alarm : HackingAlarm
        Fed with the statistics of every training batch.

    Examples
    --------
    >>> m = TrainingMonitor()
    >>> s = m.observe(0, ["p", "p", "q", "q"], ["a b c", "a b d", "x y z", "x y z"],
    ...               proxy=[1.0, 2.0, 3.0, 4.0])
    >>> s["within_distinct_2"], m.history[0]["step"], m.should_stop
    (0.625, 0, False)
    """

    def __init__(self, config: MonitorConfig | None = None, *,
                 gold_fn: Callable[..., Sequence[float]] | None = None,
                 proxy_fn: Callable[..., Sequence[float]] | None = None,
                 run_dir: str | os.PathLike[str] | RunDir | None = None) -> None:
        if config is not None and not isinstance(config, MonitorConfig):
            raise InputError("TrainingMonitor: config must be a MonitorConfig or None, got "
                             f"{type(config).__name__}")
        for name, fn in (("gold_fn", gold_fn), ("proxy_fn", proxy_fn)):
            if fn is not None and not callable(fn):
                raise InputError(f"TrainingMonitor: {name} must be callable (prompts=, "
                                 f"completions=, **columns) -> list[float], got {fn!r}")
        self.config = config if config is not None else MonitorConfig()
        self.gold_fn, self.proxy_fn = gold_fn, proxy_fn
        self.alarm = HackingAlarm(self.config.alarm)
        self.history: list[dict[str, Any]] = []
        self.run_dir = _open_run_dir(run_dir)
        if self.run_dir is not None and not self.run_dir.file("config.json").exists():
            self.run_dir.write_config({"monitor": _config_record(self.config)})
        self._last_train_step: int | None = None
        self._proxy = _ProxyBuffer()
        self._unwritten: list[dict[str, Any]] = []

    @property
    def events(self) -> list[AlarmEvent]:
        """Every alarm event so far, in step order."""
        return self.alarm.events

    @property
    def should_stop(self) -> bool:
        """True once the alarm has fired and ``config.early_stop`` is set."""
        return self.alarm.should_stop

    # ----------------------------------------------------------------------- observing

    def observe(self, step: int, prompts: Sequence[Any], completions: Sequence[Any], *,
                proxy: Sequence[float] | None = None, gold: Sequence[float] | None = None,
                columns: dict[str, Sequence[Any]] | None = None,
                split: str = "train") -> StepStatistics:
        """Compute, record and (for training batches) alarm on one batch of completions.

        Parameters
        ----------
        step : int >= 0
            The training step (``trainer.state.global_step``). For ``split="train"`` steps
            must not decrease; a batch with the same step as the previous one is recorded but
            not fed to the alarm.
        prompts : sequence, length n
            The prompt of each completion (TRL repeats each prompt once per generation);
            completions with equal prompts form one group. Strings or chat messages.
        completions : sequence, length n
            Strings, or chat messages (the last message's content is used).
        proxy, gold : sequence of float, length n, or None, default=None
            The rewards; finite. ``None`` computes them with ``proxy_fn`` / ``gold_fn`` when
            given, else leaves them out.
        columns : dict of str to sequence, or None, default=None
            Extra dataset columns passed to ``gold_fn`` / ``proxy_fn`` as keyword arguments.
        split : {"train", "eval"}, default="train"
            ``"train"`` batches feed the alarm; ``"eval"`` batches are only recorded.

        Returns
        -------
        StepStatistics
            Exactly :func:`~rewardshift.monitor.stats.step_statistics` of the completions,
            grouped by prompt, with the proxy and gold rewards.

        Raises
        ------
        InputError
            Lengths that differ, a non-finite reward, a decreasing training step.
        """
        stats, _ = self._observe(step, prompts, completions, proxy=proxy, gold=gold,
                                 columns=columns or {}, split=split)
        return stats

    def _observe(self, step: int, prompts: Sequence[Any], completions: Sequence[Any], *,
                 proxy: Sequence[float] | None, gold: Sequence[float] | None,
                 columns: dict[str, Sequence[Any]], split: str
                 ) -> tuple[StepStatistics, list[float] | None]:
        """:meth:`observe`, also returning the gold values used (for ``log_extra``)."""
        step = self._check_step(step, split)
        prompts, completions = _check_batch(prompts, completions)
        n = len(completions)
        kwargs = {"prompts": prompts, "completions": completions, **columns}
        if proxy is None and self.proxy_fn is not None:
            proxy = _call_reward(self.proxy_fn, "proxy_fn", kwargs)
        if gold is None and self.gold_fn is not None:
            gold = _call_reward(self.gold_fn, "gold_fn", kwargs)
        proxy_l = _check_values(proxy, n, "proxy")
        gold_l = _check_values(gold, n, "gold")
        c = self.config
        stats = step_statistics([_text(x) for x in completions],
                                group_ids=[_group_key(p) for p in prompts], proxy=proxy_l,
                                gold=gold_l, tokenizer=c.tokenizer, embed=c.embed,
                                embed_model=c.embed_model)
        row: dict[str, Any] = {"step": step, "split": split, **stats}
        event = None
        if split == "train":
            if self._last_train_step is None or step > self._last_train_step:
                event = self.alarm.update(step, stats)
            self._last_train_step = step
            row |= {"alarm": 1.0 if event else 0.0, "alarm_events": float(len(self.events))}
            if event is not None:
                self._record_event(event)
        self.history.append(row)
        self._unwritten.append(row)
        if event is not None or len(self._unwritten) >= self.config.flush_every:
            self.flush()
        return stats, gold_l

    def flush(self) -> None:
        """Append the rows not yet written to the run directory's ``metrics.jsonl``."""
        rows, self._unwritten = self._unwritten, []
        if self.run_dir is not None and rows:
            self.run_dir.append_metrics(rows)

    def _check_step(self, step: int, split: str) -> int:
        if split not in _SPLITS:
            raise InputError(f"TrainingMonitor.observe: split={split!r} should be one of "
                             f"{_SPLITS}")
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise InputError(f"TrainingMonitor.observe: step={step!r} should be an int >= 0 "
                             "(the trainer's global_step)")
        if split == "train" and self._last_train_step is not None \
                and step < self._last_train_step:
            raise InputError(f"TrainingMonitor.observe: step={step} is below the previous "
                             f"training step {self._last_train_step}; training steps must not "
                             "decrease (use a new TrainingMonitor for a new run)")
        return int(step)

    def _record_event(self, event: AlarmEvent) -> None:
        logger.warning("%s", event.message)
        if self.run_dir is not None:
            self.run_dir.append_metrics([dataclasses.asdict(event)], name="alarms.jsonl")

    # ----------------------------------------------------------------------- TRL reward functions

    def reward_function(self, name: str = "monitor") -> _ObserverReward:
        """A GRPO / RLOO reward function that observes each batch and returns zeros.

        Give it weight 0 in ``GRPOConfig(reward_weights=[..., 0.0])`` and put it after the
        reward functions wrapped with :meth:`wrap`. ``name`` is how TRL names its (zero)
        reward in the logs (``rewards/monitor/mean``).
        """
        if not isinstance(name, str) or not name:
            raise InputError(f"reward_function: name must be a non-empty str, got {name!r}")
        return _ObserverReward(self, name)

    def wrap(self, reward_fn: Callable[..., Sequence[float | None]], *,
             weight: float = 1.0) -> _WrappedReward:
        """The user's reward function, unchanged, that also records its values as the proxy.

        Parameters
        ----------
        reward_fn : callable
            A synchronous TRL reward function ``f(prompts=, completions=, **kwargs)``.
        weight : float, default=1.0
            Its entry in ``reward_weights``. With several wrapped functions the proxy of a
            completion is the weighted sum of their values, as TRL forms the training reward
            (``None`` values count as 0 unless every function returned ``None``).

        Returns
        -------
        callable
            Returns exactly ``reward_fn``'s values and carries its ``__name__``, so TRL trains
            and logs as before.
        """
        if not callable(reward_fn):
            raise InputError(f"wrap: reward_fn must be callable, got {reward_fn!r}")
        if _is_async(reward_fn):
            raise InputError("wrap: reward_fn is async; TRL runs async reward functions after the "
                             "synchronous ones, so the monitor's observer would miss its values. "
                             "Wrap a synchronous function, or pass it as proxy_fn=")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight):
            raise InputError(f"wrap: weight={weight!r} should be a finite number (its entry in "
                             "reward_weights)")
        return _WrappedReward(self, reward_fn, float(weight))

    def _trl_batch(self, prompts: Sequence[Any], completions: Sequence[Any],
                   kwargs: dict[str, Any]) -> list[float]:
        """Body of :class:`_ObserverReward`: observe the batch and log through TRL."""
        state, log_metric = kwargs.get("trainer_state"), kwargs.get("log_metric")
        if state is None:
            raise InputError("monitor.reward_function() was called without trainer_state; it is "
                             "meant for TRL's GRPOTrainer / RLOOTrainer (pass it in reward_funcs "
                             "with weight 0), or call monitor.observe(step, prompts, "
                             "completions) yourself")
        proxy = self._proxy.take(completions)
        trainer = getattr(log_metric, "__self__", None)
        model = getattr(trainer, "model", None)
        split = "eval" if getattr(model, "training", True) is False else "train"
        step = int(state.global_step)
        n = len(completions)
        gold: list[float] | None = None
        if split == "eval" or step % self.config.every_n_steps == 0:
            columns = {k: v for k, v in kwargs.items() if k not in _TRL_KWARGS}
            _, gold = self._observe(step, prompts, completions, proxy=proxy, gold=None,
                                    columns=columns, split=split)
            if log_metric is not None:
                for key, value in _loggable(self.history[-1], self.config.log_prefix).items():
                    log_metric(key, value)
        log_extra = kwargs.get("log_extra")
        if log_extra is not None and self.gold_fn is not None and self.config.log_gold_per_sample:
            # every batch gets the column, so TRL's completions table stays aligned
            log_extra("gold", list(gold) if gold is not None else [None] * n)
        return [0.0] * n


class _ObserverReward:
    """The weight-0 reward function of :meth:`TrainingMonitor.reward_function`.

    A callable class rather than a closure, so it pickles; ``__name__`` is what TRL logs.
    """

    def __init__(self, monitor: TrainingMonitor, name: str) -> None:
        self.monitor = monitor
        self.__name__ = name

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 **kwargs: Any) -> list[float]:
        return self.monitor._trl_batch(prompts, completions, kwargs)


class _WrappedReward:
    """The user's reward function, recording its values for the observer (see ``wrap``)."""

    def __init__(self, monitor: TrainingMonitor, fn: Callable[..., Sequence[float | None]],
                 weight: float) -> None:
        self.monitor, self.fn, self.weight = monitor, fn, weight
        self.__name__ = _callable_name(fn)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 **kwargs: Any) -> Sequence[float | None]:
        values = self.fn(prompts=prompts, completions=completions, **kwargs)
        self.monitor._proxy.add(completions, values, self.weight, self.__name__)
        return values


class _ProxyBuffer:
    """The weighted proxy of the current batch, keyed by the identity of TRL's completions list.

    TRL passes one and the same ``completions`` list to every reward function of a batch, so
    identity tells batches apart without comparing texts.
    """

    def __init__(self) -> None:
        self._batch: object | None = None
        self._sum: np.ndarray | None = None
        self._taken = False
        self._warned = False

    def add(self, batch: Sequence[Any], values: Sequence[float | None], weight: float,
            name: str) -> None:
        if batch is self._batch and self._taken:
            raise InputError(f"the wrapped reward '{name}' ran after monitor.reward_function() on "
                             "the same batch; put monitor.reward_function() last in reward_funcs "
                             "so it sees the proxy")
        if batch is not self._batch:
            if self._batch is not None and not self._taken and not self._warned:
                warnings.warn("monitor.wrap(...) recorded proxy rewards that no observer used; add "
                              "monitor.reward_function() (weight 0) after it in reward_funcs",
                              stacklevel=3)
                self._warned = True
            self._batch, self._sum, self._taken = batch, None, False
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        part = weight * arr
        if self._sum is None:
            self._sum = part
        else:  # TRL's nansum: None counts as 0 unless every function returned None
            both_nan = np.isnan(self._sum) & np.isnan(part)
            self._sum = np.where(both_nan, np.nan, np.nan_to_num(self._sum) + np.nan_to_num(part))

    def take(self, batch: Sequence[Any]) -> list[float] | None:
        """The proxy recorded for ``batch`` (None if none, or not finite everywhere); marks
        ``batch`` as observed, so a wrapped reward that runs later on it is an error."""
        if batch is not self._batch:
            self._batch, self._sum = batch, None
        self._taken = True
        if self._sum is None:
            return None
        if not np.isfinite(self._sum).all():
            if not self._warned:
                warnings.warn("a wrapped reward returned None or a non-finite value; the proxy "
                              "statistics of such batches are left out", stacklevel=3)
                self._warned = True
            return None
        return self._sum.tolist()


# --------------------------------------------------------------------------- callbacks

class MonitorCallback(TrainerCallback):
    """Stop training when the monitor's alarm fires (``config.early_stop``), and log alarms.

    ``on_step_end`` sets ``control.should_training_stop`` once :attr:`TrainingMonitor.should_stop`
    is true, so the run ends after the optimizer step in which the alarm fired (the trainer
    then saves and logs as at any end of training). ``on_log`` writes each new alarm's message
    to the ``rewardshift.monitor`` logger (the numbers themselves reach ``report_to`` as the
    ``monitor/alarm`` metric of the reward function or sampling callback).
    """

    def __init__(self, monitor: TrainingMonitor) -> None:
        if not isinstance(monitor, TrainingMonitor):
            raise InputError("MonitorCallback needs a TrainingMonitor, got "
                             f"{type(monitor).__name__}")
        self.monitor = monitor
        self._reported = 0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.monitor.should_stop and not control.should_training_stop:
            event = self.monitor.events[0]
            logger.warning("stopping training at step %d: alarm '%s' fired at step %d",
                           state.global_step, event.reason, event.step)
            control.should_training_stop = True
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.monitor.flush()
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
               **kwargs: Any) -> Any:
        for event in self.monitor.events[self._reported:]:
            logger.warning("alarm at step %d (%s): %s", event.step, event.reason, event.message)
        self._reported = len(self.monitor.events)
        return control


class SamplingMonitorCallback(TrainerCallback):
    """Sample held-out prompts during training and observe the completions (DPO, any trainer).

    Parameters
    ----------
    monitor : TrainingMonitor
    prompts : sequence of str
        Held-out prompts, formatted as the model sees them (apply a chat template first).
    num_samples : int >= 2, default=4
        Completions per prompt; they form one group for the within-group statistics.
    on : {"evaluate", "step"}, default="evaluate"
        Sample at every evaluation, or every ``every_n_steps`` optimizer steps.
    every_n_steps : int >= 1 or None, default=None
        For ``on="step"``; ``None`` for ``monitor.config.every_n_steps``.
    max_new_tokens : int >= 1, default=32
    temperature : float > 0, default=1.0
        Pure ancestral sampling at this temperature (``top_k=0``, ``top_p=1``): the policy's
        own distribution, not a truncated one.
    batch_size : int >= 1, default=16
        Prompts per ``generate`` call.
    seed : int, default=0
        The generation is seeded with ``seed`` every time (common random numbers, so two
        evaluations differ by the policy, not the noise) inside ``torch.random.fork_rng``, so
        the training's random state is the same afterwards as without the callback.

    Notes
    -----
    Call :meth:`attach` with the trainer: the statistics are logged with
    ``transformers.Trainer.log(trainer, ...)``, the only route to ``report_to`` from a callback
    (see the module docstring). The model is put in eval mode to sample and restored after.
    With ``config.early_stop`` the callback itself stops training when the alarm fires.
    """

    def __init__(self, monitor: TrainingMonitor, prompts: Sequence[str], *,
                 num_samples: int = 4, on: str = "evaluate", every_n_steps: int | None = None,
                 max_new_tokens: int = 32, temperature: float = 1.0, batch_size: int = 16,
                 seed: int = 0) -> None:
        if not isinstance(monitor, TrainingMonitor):
            raise InputError("SamplingMonitorCallback needs a TrainingMonitor, got "
                             f"{type(monitor).__name__}")
        if isinstance(prompts, str) or not prompts or \
                not all(isinstance(p, str) for p in prompts):
            raise InputError("SamplingMonitorCallback: prompts must be a non-empty list of str "
                             "(apply the chat template first for chat models)")
        if on not in ("evaluate", "step"):
            raise InputError(f"SamplingMonitorCallback: on={on!r} should be 'evaluate' or 'step'")
        every = monitor.config.every_n_steps if every_n_steps is None else every_n_steps
        for name, v, lo in (("num_samples", num_samples, 2), ("every_n_steps", every, 1),
                            ("max_new_tokens", max_new_tokens, 1), ("batch_size", batch_size, 1),
                            ("seed", seed, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InputError(f"SamplingMonitorCallback: {name}={v!r} should be an int >= {lo}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not (math.isfinite(temperature) and temperature > 0):
            raise InputError(f"SamplingMonitorCallback: temperature={temperature!r} should be "
                             "a number > 0")
        self.monitor, self.prompts = monitor, list(prompts)
        self.num_samples, self.on, self.every_n_steps = num_samples, on, every
        self.max_new_tokens, self.temperature = max_new_tokens, float(temperature)
        self.batch_size, self.seed = batch_size, seed
        self.trainer: Trainer | None = None
        self.last_completions: list[str] = []

    def attach(self, trainer: Trainer) -> SamplingMonitorCallback:
        """Hold ``trainer`` (to log through it) and add this callback to it if not yet there."""
        if not isinstance(trainer, Trainer):
            raise InputError("SamplingMonitorCallback.attach needs a transformers Trainer (TRL's "
                             f"trainers are ones), got {type(trainer).__name__}")
        self.trainer = trainer
        if self not in trainer.callback_handler.callbacks:
            trainer.add_callback(self)
        return self

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._require_trainer()
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.monitor.flush()
        return control

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.on == "evaluate":
            self._sample_and_log(state, control, kwargs)
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.on == "step" and state.global_step % self.every_n_steps == 0:
            self._sample_and_log(state, control, kwargs)
        return control

    def _require_trainer(self) -> Trainer:
        if self.trainer is None:
            raise InputError("SamplingMonitorCallback is not attached to its trainer, so it "
                             "cannot log to report_to; call callback.attach(trainer) after "
                             "building the trainer")
        return self.trainer

    def _sample_and_log(self, state: Any, control: Any, kwargs: dict[str, Any]) -> None:
        trainer = self._require_trainer()
        model, tok = kwargs.get("model"), kwargs.get("processing_class")
        if model is None or tok is None:
            raise InputError("SamplingMonitorCallback needs the trainer's model and "
                             "processing_class; pass processing_class= (the tokenizer) to the "
                             "trainer")
        prompts, completions = sample_completions(
            model, getattr(tok, "tokenizer", tok), self.prompts, num_samples=self.num_samples,
            max_new_tokens=self.max_new_tokens, temperature=self.temperature,
            batch_size=self.batch_size, seed=self.seed)
        self.last_completions = completions
        self.monitor.observe(int(state.global_step), prompts, completions)
        self.monitor.flush()
        Trainer.log(trainer, _loggable(self.monitor.history[-1], self.monitor.config.log_prefix))
        if self.monitor.should_stop:
            control.should_training_stop = True


def sample_completions(model: Any, tokenizer: Any, prompts: Sequence[str], *, num_samples: int,
                       max_new_tokens: int, temperature: float, batch_size: int,
                       seed: int) -> tuple[list[str], list[str]]:
    """``num_samples`` seeded samples per prompt: ``(prompt of each, completion text)``.

    Only the new tokens are decoded (special tokens skipped). The torch random state (CPU and
    the model's CUDA device) and the model's train / eval mode are restored afterwards.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
        else tokenizer.eos_token_id
    device = next(model.parameters()).device
    devices = [device] if device.type == "cuda" else []
    was_training = model.training
    out_prompts: list[str] = []
    out_texts: list[str] = []
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            for i in range(0, len(prompts), batch_size):
                chunk = list(prompts[i:i + batch_size])
                enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left")
                ids = enc["input_ids"].to(device)
                out = model.generate(input_ids=ids, attention_mask=enc["attention_mask"].to(device),
                                     do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                     max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                                     num_return_sequences=num_samples)
                out_texts += tokenizer.batch_decode(out[:, ids.shape[1]:],
                                                    skip_special_tokens=True)
                out_prompts += [p for p in chunk for _ in range(num_samples)]
    finally:
        model.train(was_training)
    return out_prompts, out_texts


# --------------------------------------------------------------------------- helpers

def _open_run_dir(run_dir: str | os.PathLike[str] | RunDir | None) -> RunDir | None:
    if run_dir is None or isinstance(run_dir, RunDir):
        return run_dir
    if not isinstance(run_dir, (str, os.PathLike)):
        raise InputError(f"TrainingMonitor: run_dir must be a path or a RunDir, got "
                         f"{type(run_dir).__name__}")
    path = Path(run_dir).resolve()
    return RunDir.create(path.parent, path.name)


def _config_record(config: MonitorConfig) -> dict[str, Any]:
    """The config as plain values (no deep copy of an encoder object, unlike ``asdict``)."""
    out = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    out["alarm"] = dataclasses.asdict(config.alarm)
    for name in ("embed_model", "tokenizer"):
        if out[name] is not None and not isinstance(out[name], (str, os.PathLike)):
            out[name] = type(out[name]).__name__
    return out


def _check_batch(prompts: Sequence[Any], completions: Sequence[Any]
                 ) -> tuple[list[Any], list[Any]]:
    for name, seq in (("prompts", prompts), ("completions", completions)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise InputError(f"TrainingMonitor.observe: {name} must be a list, got "
                             f"{type(seq).__name__}")
    if len(prompts) != len(completions):
        raise InputError(f"TrainingMonitor.observe: len(prompts)={len(prompts)} should equal "
                         f"len(completions)={len(completions)}; pass one prompt per completion "
                         "(repeat each prompt once per generation, as TRL does)")
    if not completions:
        raise InputError("TrainingMonitor.observe: the batch is empty; pass the completions of "
                         "one step")
    return list(prompts), list(completions)


def _call_reward(fn: Callable[..., Sequence[float]], name: str,
                 kwargs: dict[str, Any]) -> Sequence[float]:
    try:
        return fn(**kwargs)
    except TypeError as exc:
        extra = "".join(f", {k}=..." for k in kwargs if k not in ("prompts", "completions"))
        raise InputError(f"{name}(prompts=..., completions=...{extra}) raised TypeError: {exc}; "
                         f"it is called with these keywords: define {name} as "
                         "f(prompts, completions, **kwargs)") from exc


def _check_values(values: Sequence[float] | None, n: int, name: str) -> list[float] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise InputError(f"TrainingMonitor.observe: {name} must be a list of numbers, got "
                         f"{type(values).__name__}")
    if len(values) != n:
        raise InputError(f"TrainingMonitor.observe: {name} has {len(values)} values for {n} "
                         "completions; give one reward per completion")
    out = []
    for i, v in enumerate(values):
        try:
            x = float(v)
        except (TypeError, ValueError) as exc:
            raise InputError(f"TrainingMonitor.observe: {name}[{i}]={v!r} is not a number") \
                from exc
        if not math.isfinite(x):
            raise InputError(f"TrainingMonitor.observe: {name}[{i}]={v!r} is not finite; "
                             f"make the {name} reward return a finite number for every "
                             "completion")
        out.append(x)
    return out


def _text(completion: Any) -> str:
    """A completion's text: the string, or the content of the last chat message."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # content blocks: keep the text parts
            return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
        return str(content)
    raise InputError(f"TrainingMonitor.observe: a completion is a {type(completion).__name__}; "
                     "give strings or chat messages [{'role': ..., 'content': ...}]")


def _group_key(prompt: Any) -> Any:
    """A hashable id of a prompt (chat messages are serialised)."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(prompt, sort_keys=True, default=str)


def _loggable(row: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric fields of a history row, prefixed, for the trainer's loggers."""
    return {f"{prefix}{k}": float(v) for k, v in row.items() if k not in ("step", "split")}


def _unpartial(fn: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _callable_name(fn: Callable[..., Any]) -> str:
    """TRL's display name of a reward function (``functools.partial`` unwrapped)."""
    return getattr(_unpartial(fn), "__name__", type(_unpartial(fn)).__name__)


def _is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine (as TRL's ``is_async_callable`` decides)."""
    fn = _unpartial(fn)
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(fn.__call__)
