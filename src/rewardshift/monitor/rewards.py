"""The TRL reward functions of the monitor: the weight-0 observer and the wrapped proxy.

``TrainingMonitor.reward_function()`` returns an :class:`_ObserverReward` and
``TrainingMonitor.wrap(fn)`` a :class:`_WrappedReward` (:mod:`rewardshift.monitor.training`);
a :class:`_ProxyBuffer` carries the wrapped rewards' values of a batch to the observer. TRL
calls the reward functions of a batch in order, with one and the same ``completions`` list, so
the observer must come last in ``reward_funcs``.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardshift._exceptions import InputError

if TYPE_CHECKING:
    from rewardshift.monitor.training import TrainingMonitor

__all__: list[str] = []

#: Keyword arguments TRL passes to every reward function that are not dataset columns.
_TRL_KWARGS = frozenset({"prompts", "completions", "completion_ids", "trainer_state",
                         "log_metric", "log_extra", "environments"})


class _ObserverReward:
    """The weight-0 reward function of :meth:`TrainingMonitor.reward_function`.

    A callable class rather than a closure, so it pickles; ``__name__`` is what TRL logs.
    """

    def __init__(self, monitor: TrainingMonitor, name: str) -> None:
        self.monitor = monitor
        self.__name__ = name

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 **kwargs: Any) -> list[float]:
        """Observe the batch, log its statistics through TRL and return zeros."""
        monitor = self.monitor
        state, log_metric = kwargs.get("trainer_state"), kwargs.get("log_metric")
        if state is None:
            raise InputError("monitor.reward_function() was called without trainer_state; it is "
                             "meant for TRL's GRPOTrainer / RLOOTrainer (pass it in reward_funcs "
                             "with weight 0), or call monitor.observe(step, prompts, "
                             "completions) yourself")
        proxy = monitor._proxy.take(completions)
        trainer = getattr(log_metric, "__self__", None)
        model = getattr(trainer, "model", None)
        split = "eval" if getattr(model, "training", True) is False else "train"
        step = int(state.global_step)
        n = len(completions)
        gold: list[float] | None = None
        if split == "eval" or step % monitor.config.every_n_steps == 0:
            columns = {k: v for k, v in kwargs.items() if k not in _TRL_KWARGS}
            _, gold = monitor._observe(step, prompts, completions, proxy=proxy, gold=None,
                                       columns=columns, split=split)
            if log_metric is not None:
                for key, value in monitor._last_logs().items():
                    log_metric(key, value)
        log_extra = kwargs.get("log_extra")
        if log_extra is not None and monitor.gold_fn is not None \
                and monitor.config.log_gold_per_sample:
            # every batch gets the column, so TRL's completions table stays aligned
            log_extra("gold", list(gold) if gold is not None else [None] * n)
        return [0.0] * n


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


def _unpartial(fn: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _callable_name(fn: Callable[..., Any]) -> str:
    """TRL's display name of a reward function (``functools.partial`` unwrapped)."""
    return getattr(_unpartial(fn), "__name__", type(_unpartial(fn)).__name__)


def _is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine (as TRL's ``is_async_callable`` decides)."""
    target: Any = _unpartial(fn)  # Any: mypy does not read __call__ off a Callable
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(target.__call__)
