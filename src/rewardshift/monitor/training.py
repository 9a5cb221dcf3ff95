"""Plug the training monitor into a TRL (or any ``transformers.Trainer``) run.

Nothing about training changes: the monitor only reads the completions the trainer already
made, or samples its own with seeded random streams that leave torch's untouched
(``tests/monitor/test_trl.py`` checks that a GRPO run's completions, rewards, losses and
gradient norms are bit for bit those of the same run without it, and that a DPO run's losses
are unchanged by sampling).

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
* :class:`~rewardshift.monitor.callbacks.MonitorCallback` stops training at the end of the
  step in which the alarm fired when ``early_stop`` is set, and writes each alarm to the
  ``rewardshift.monitor`` logger.

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
(``on="step"``), :class:`~rewardshift.monitor.callbacks.SamplingMonitorCallback` samples
``num_samples`` completions per prompt from ``kwargs["model"]`` with
``kwargs["processing_class"]``, decodes only the new tokens and observes them. It needs the
trainer itself (``SamplingMonitorCallback.attach``) because a callback cannot otherwise reach
``report_to``: ``Trainer.log`` copies the metrics into
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

Where things live: :class:`TrainingMonitor` here (no TRL or torch needed),
:class:`~rewardshift.monitor.config.MonitorConfig` in :mod:`rewardshift.monitor.config`, the
TRL reward functions in :mod:`rewardshift.monitor.rewards`, the ``transformers`` callbacks in
:mod:`rewardshift.monitor.callbacks`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.monitor.alarm import AlarmEvent, HackingAlarm
from rewardshift.monitor.config import MonitorConfig, _config_record
from rewardshift.monitor.rewards import _is_async, _ObserverReward, _ProxyBuffer, _WrappedReward
from rewardshift.monitor.stats import StepStatistics, step_statistics
from rewardshift.rundir import RunDir

__all__ = ["TrainingMonitor"]

logger = logging.getLogger("rewardshift.monitor")

_SPLITS = ("train", "eval")


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
        (:class:`~rewardshift.rundir.RunDir` format); created if missing, reopened if
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
        self.alarm = HackingAlarm(self.config.effective_alarm)
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

    def _last_logs(self) -> dict[str, float]:
        """The numeric fields of the last history row, prefixed, for the trainer's loggers."""
        prefix = self.config.log_prefix
        return {f"{prefix}{k}": float(v) for k, v in self.history[-1].items()
                if k not in ("step", "split")}

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


def _open_run_dir(run_dir: str | os.PathLike[str] | RunDir | None) -> RunDir | None:
    if run_dir is None or isinstance(run_dir, RunDir):
        return run_dir
    if not isinstance(run_dir, (str, os.PathLike)):
        raise InputError(f"TrainingMonitor: run_dir must be a path or a RunDir, got "
                         f"{type(run_dir).__name__}")
    path = Path(run_dir).resolve()
    return RunDir.create(path.parent, path.name)


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


