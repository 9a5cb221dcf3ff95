"""The ``transformers`` callbacks of the monitor: early stopping, and sampling held-out prompts.

How they fit a TRL run is told in :mod:`rewardshift.monitor.training`. Needs the ``lm`` extra.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.generate.sampling import eos_token_ids, sample_ids
from rewardshift.monitor.training import TrainingMonitor

try:
    from transformers import Trainer, TrainerCallback
except ImportError as exc:  # pragma: no cover - the lm extra is installed in CI
    raise MissingDependencyError("transformers", "lm") from exc

__all__ = ["MonitorCallback", "SamplingMonitorCallback", "sample_completions"]

logger = logging.getLogger("rewardshift.monitor")


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
        Prompts decoded together (changes speed, not samples).
    seed : int, default=0
        The generation is seeded with ``seed`` every time (common random numbers, so two
        evaluations differ by the policy, not the noise), with random streams of its own
        (:func:`~rewardshift.generate.sampling.sample_ids`), so the training's random state is
        the same afterwards as without the callback.

    Notes
    -----
    Call :meth:`attach` with the trainer: the statistics are logged with
    ``transformers.Trainer.log(trainer, ...)``, the only route to ``report_to`` from a callback
    (see :mod:`rewardshift.monitor.training`). The model is put in eval mode to sample and
    restored after.
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
        Trainer.log(trainer, self.monitor._last_logs())
        if self.monitor.should_stop:
            control.should_training_stop = True


def sample_completions(model: Any, tokenizer: Any, prompts: Sequence[str], *, num_samples: int,
                       max_new_tokens: int, temperature: float, batch_size: int,
                       seed: int) -> tuple[list[str], list[str]]:
    """``num_samples`` seeded samples per prompt: ``(prompt of each, completion text)``.

    Decoded by :func:`rewardshift.generate.sampling.sample_ids` (pure ancestral sampling, one
    random stream per sample, ``batch_size`` prompts at a time); the prompts are encoded with
    the tokenizer's special tokens, and only the new tokens are decoded (special tokens
    skipped). The torch random state is never touched; the model's train / eval mode is
    restored afterwards.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
        else tokenizer.eos_token_id
    drawn = sample_ids(model, [tokenizer(p)["input_ids"] for p in prompts], n=num_samples,
                       seed=seed, max_new_tokens=max_new_tokens, pad_id=pad_id,
                       eos_ids=eos_token_ids(model, tokenizer), temperature=temperature,
                       batch_size=batch_size * num_samples)
    texts = tokenizer.batch_decode([d.ids for d in drawn], skip_special_tokens=True)
    return [p for p in prompts for _ in range(num_samples)], texts
