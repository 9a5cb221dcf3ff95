"""The training monitor attached to the pipeline's GRPO runs, as any TRL user would attach it.

The proxy reward is wrapped (:meth:`~rewardshift.monitor.training.TrainingMonitor.wrap`: same
values, same training), the monitor's observer joins the reward functions with weight 0, and a
:class:`~rewardshift.monitor.callbacks.MonitorCallback` stops the run when the alarm fires if
asked to. The gold reward reaches the monitor as a TRL-style ``gold_fn``: it sees the decoded
completion strings only (not the token ids), so termination is not checked there -- a
completion cut at ``max_completion_length`` that happens to be a whole text of the grammar
counts as in the grammar for the monitor (and not in :mod:`rewardshift.lm.evaluate`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from rewardshift.lm.preferences import GoldReward
from rewardshift.monitor.alarm import AlarmConfig

__all__ = ["attach_monitor"]


def attach_monitor(run_dir: str | os.PathLike[str], gold: GoldReward, proxy: Callable, *,
                   early_stop: bool = False, alarm: AlarmConfig | None = None,
                   embed: bool = False
                   ) -> tuple[list[Callable], list[float], list[Any], Callable[[], list[dict]]]:
    """``(reward_funcs, reward_weights, callbacks, events)`` for one GRPO run.

    ``events()`` returns the alarm events so far as dicts (``step``, ``reason``, ``message``,
    ``values``).
    """
    from rewardshift.monitor import MonitorCallback, MonitorConfig, TrainingMonitor

    def gold_fn(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> list[float]:
        texts = [c[1:] if c.startswith(" ") else c for c in completions]
        return gold(prompts, texts).tolist()

    monitor = TrainingMonitor(MonitorConfig(early_stop=early_stop, embed=embed,
                                            alarm=alarm or AlarmConfig()),
                              gold_fn=gold_fn, run_dir=run_dir)

    def events() -> list[dict]:
        monitor.flush()
        return [{"step": e.step, "reason": e.reason, "message": e.message,
                 "values": dict(e.values)} for e in monitor.events]

    return ([monitor.wrap(proxy), monitor.reward_function("monitor")], [1.0, 0.0],
            [MonitorCallback(monitor)], events)
