"""The TRL integration: real tiny GRPO and DPO runs with the monitor attached.

The model is a one-layer GPT-2 with a 51-word vocabulary, randomly initialised from a seed
(``conftest.py``); nothing is downloaded. Runs use one torch thread (see ``torch_one_thread``).
"""

from __future__ import annotations

import asyncio
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from datasets import Dataset  # noqa: E402
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer  # noqa: E402

from rewardshift._exceptions import InputError  # noqa: E402
from rewardshift.monitor import (  # noqa: E402
    AlarmConfig,
    MonitorCallback,
    MonitorConfig,
    SamplingMonitorCallback,
    TrainingMonitor,
    step_statistics,
)
from rewardshift.monitor.callbacks import sample_completions  # noqa: E402

from .conftest import build_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PROMPTS = [f"w{i} w{i + 1}" for i in range(8)]


class CountGood:
    """Toy proxy reward: how often "good" occurs. Records every batch it scores."""

    __name__ = "toy"

    def __init__(self) -> None:
        self.batches: list[tuple[list[str], list[str]]] = []

    def __call__(self, prompts, completions, **kwargs):
        self.batches.append((list(prompts), list(completions)))
        return [float(c.split().count("good")) for c in completions]


def gold_len(prompts, completions, **kwargs):
    """Toy gold reward: minus the number of words."""
    return [-float(len(c.split())) for c in completions]


def grpo_args(tmp_path, name, **kw):
    base = dict(output_dir=str(tmp_path / name), use_cpu=True, bf16=False, seed=0,
                gradient_checkpointing=False, per_device_train_batch_size=8, num_generations=4,
                max_completion_length=8, max_steps=3, logging_steps=1, report_to="none",
                save_strategy="no", disable_tqdm=True)
    return GRPOConfig(**{**base, **kw})


def train_grpo(tmp_path, tokenizer, name, reward_funcs, *, callbacks=None, prompts=PROMPTS,
               **kw):
    trainer = GRPOTrainer(model=build_model(tokenizer), reward_funcs=reward_funcs,
                          args=grpo_args(tmp_path, name, **kw),
                          train_dataset=Dataset.from_dict({"prompt": prompts}),
                          processing_class=tokenizer, callbacks=callbacks)
    trainer.train()
    return trainer


def train_logs(trainer):
    return [r for r in trainer.state.log_history if "loss" in r]


# --------------------------------------------------------------------------- GRPO, weight 0

def test_grpo_weight_zero_monitor_logs_and_changes_nothing(tmp_path, tiny_tokenizer):
    plain_reward, watched_reward = CountGood(), CountGood()
    plain = train_grpo(tmp_path, tiny_tokenizer, "plain", [plain_reward])
    monitor = TrainingMonitor(gold_fn=gold_len, run_dir=tmp_path / "run")
    watched = train_grpo(tmp_path, tiny_tokenizer, "watched",
                         [monitor.wrap(watched_reward), monitor.reward_function()],
                         reward_weights=[1.0, 0.0], callbacks=[MonitorCallback(monitor)])

    # no change to training: same completions, rewards, losses and gradients, bit for bit
    assert watched_reward.batches == plain_reward.batches
    for a, b in zip(train_logs(plain), train_logs(watched), strict=True):
        for key in ("loss", "grad_norm", "reward", "reward_std", "rewards/toy/mean", "entropy"):
            assert a[key] == b[key], key
    assert len(train_logs(watched)) == 3

    # the monitor's statistics reach the trainer's logs (and so report_to) at every step
    for row in train_logs(watched):
        for key in ("within_distinct_2", "across_self_bleu_4", "repetition_rate",
                    "mean_length", "proxy_mean", "gold_mean", "alarm", "alarm_events"):
            assert f"monitor/{key}" in row, key
        assert row["rewards/monitor/mean"] == 0.0
    assert not any(k.startswith("monitor/") for r in plain.state.log_history for k in r)

    # one metrics.jsonl row per step, equal to step_statistics of that step's completions
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in rows] == [0, 1, 2] and {r["split"] for r in rows} == {"train"}
    for row, log, (prompts, completions) in zip(rows, train_logs(watched),
                                                 watched_reward.batches, strict=True):
        proxy = CountGood()(prompts, completions)
        expected = step_statistics(completions, group_ids=prompts, proxy=proxy,
                                   gold=gold_len(prompts, completions))
        assert {k: row[k] for k in expected} == dict(expected)
        assert log["monitor/proxy_mean"] == pytest.approx(log["rewards/toy/mean"], abs=1e-6)
        assert log["monitor/within_distinct_2"] == expected["within_distinct_2"]
    assert (tmp_path / "run" / "config.json").exists()
    # per-sample gold in TRL's completions table (its last generation batch)
    last_prompts, last_completions = watched_reward.batches[-1]
    assert list(watched._logs["extra"]["gold"]) == gold_len(last_prompts, last_completions)


# --------------------------------------------------------------------------- observe

def test_observe_equals_step_statistics_and_records(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(20)]
    prompts = [p for p in ("p", "q", "r") for _ in range(4)]
    completions = [" ".join(rng.choice(words, size=6)) for _ in prompts]
    proxy, gold = rng.normal(size=12).tolist(), rng.normal(size=12).tolist()
    monitor = TrainingMonitor(run_dir=tmp_path / "run")
    got = monitor.observe(5, prompts, completions, proxy=proxy, gold=gold)
    assert dict(got) == dict(step_statistics(completions, group_ids=prompts, proxy=proxy,
                                             gold=gold))
    assert monitor.history[0] == {"step": 5, "split": "train", **got, "alarm": 0.0,
                                  "alarm_events": 0.0}
    # rows reach metrics.jsonl every flush_every rows, and on flush()
    m1 = TrainingMonitor(MonitorConfig(flush_every=2), run_dir=tmp_path / "run1")
    for step in range(3):
        m1.observe(step, prompts, completions)
    assert len(m1.run_dir.read_metrics()) == 2
    m1.flush()
    assert [r["step"] for r in m1.run_dir.read_metrics()] == [0, 1, 2]
    # gold_fn / proxy_fn are used when no values are given; chat messages are read as text
    chat = [[{"role": "assistant", "content": c}] for c in completions]
    m2 = TrainingMonitor(gold_fn=lambda prompts, completions: gold,
                         proxy_fn=lambda prompts, completions: proxy)
    assert dict(m2.observe(0, prompts, chat)) == dict(got)


def test_trl_reward_path_without_a_trainer():
    """wrap + observer: proxy passed on, every_n_steps, eval batches kept out of the alarm."""
    monitor = TrainingMonitor(MonitorConfig(every_n_steps=2))
    logged: dict[str, list[float]] = {}

    def log_metric(name, value):
        logged.setdefault(name, []).append(value)

    proxy = monitor.wrap(lambda prompts, completions, **kw: [1.0, 3.0, 2.0, 0.0], weight=2.0)
    observer = monitor.reward_function()
    assert proxy.__name__ == "<lambda>" and observer.__name__ == "monitor"
    prompts = ["p", "p", "q", "q"]
    for step in range(3):
        completions = [f"a b {step}", "a c d", "x y z", "x y"]  # a new list per batch, as TRL
        kw = dict(trainer_state=SimpleNamespace(global_step=step), log_metric=log_metric)
        assert proxy(prompts=prompts, completions=completions, **kw) == [1.0, 3.0, 2.0, 0.0]
        assert observer(prompts=prompts, completions=completions, **kw) == [0.0] * 4
    assert [r["step"] for r in monitor.history] == [0, 2]  # every_n_steps=2
    assert logged["monitor/proxy_mean"] == [3.0, 3.0]  # 2 x mean(1, 3, 2, 0)

    # an eval batch (the trainer's model in eval mode) is logged but not fed to the alarm
    class EvalTrainer:  # TRL passes its bound method _log_metric: its owner is the trainer
        model = SimpleNamespace(training=False)

        def _log_metric(self, name, value):
            log_metric(name, value)

    observer(prompts=prompts, completions=["a", "b", "c", "d"],
             trainer_state=SimpleNamespace(global_step=1), log_metric=EvalTrainer()._log_metric)
    assert monitor.history[-1]["split"] == "eval" and "alarm" not in monitor.history[-1]

    # dataset columns reach gold_fn; the per-sample gold goes to TRL's completions table
    extra: dict[str, list] = {}
    m2 = TrainingMonitor(gold_fn=lambda prompts, completions, answer: [float(a) for a in answer])
    m2.reward_function()(prompts=prompts, completions=["a", "b", "c", "d"], answer=[1, 2, 3, 4],
                         trainer_state=SimpleNamespace(global_step=0), log_metric=log_metric,
                         log_extra=extra.__setitem__)
    assert m2.history[0]["gold_mean"] == 2.5 and extra == {"gold": [1.0, 2.0, 3.0, 4.0]}


# --------------------------------------------------------------------------- early stop

class Trace:
    """A constructed reward trace: call k (= global step k) returns ``f(k)`` plus a small,
    fixed per-completion offset (so ranks are defined)."""

    def __init__(self, f, name):
        self.f, self.k, self.__name__ = f, 0, name

    def __call__(self, prompts, completions, **kwargs):
        value = float(self.f(self.k))
        self.k += 1
        return [value + 0.01 * i for i in range(len(completions))]


@pytest.mark.parametrize("gold, stops", [(lambda k: min(k, 6 - k), True),   # hacked
                                         (lambda k: 0.5 * k, False)])        # healthy
def test_alarm_stops_a_hacked_grpo_run_and_not_a_healthy_one(tmp_path, tiny_tokenizer, gold,
                                                              stops):
    config = MonitorConfig(early_stop=True, alarm=AlarmConfig(window=5, warmup=5, smooth=1))
    monitor = TrainingMonitor(config, gold_fn=Trace(gold, "gold"), run_dir=tmp_path / "run")
    proxy = monitor.wrap(Trace(lambda k: k, "proxy"))
    trainer = train_grpo(tmp_path, tiny_tokenizer, "stop", [proxy, monitor.reward_function()],
                         reward_weights=[1.0, 0.0], callbacks=[MonitorCallback(monitor)],
                         prompts=PROMPTS[:2], per_device_train_batch_size=4,
                         max_completion_length=4, max_steps=12)
    alarms = tmp_path / "run" / "alarms.jsonl"
    if stops:
        # proxy up, gold down from step 3: the rule holds at step 7 (see HackingAlarm's
        # doctest); training stops at the end of that step
        assert [(e.step, e.reason) for e in monitor.events] == [(7, "gold_falls")]
        assert trainer.state.global_step == 8
        assert json.loads(alarms.read_text())["reason"] == "gold_falls"
        assert train_logs(trainer)[7]["monitor/alarm"] == 1.0
    else:
        assert monitor.events == [] and not alarms.exists()
        assert trainer.state.global_step == 12


# --------------------------------------------------------------------------- DPO, sampling

def train_dpo(tmp_path, tokenizer, name, callback=None, *, max_steps=4, evaluate=True):
    pairs = {"prompt": PROMPTS, "chosen": [" good w1"] * 8, "rejected": [" bad w2"] * 8}
    args = DPOConfig(output_dir=str(tmp_path / name), use_cpu=True, bf16=False, seed=0,
                     per_device_train_batch_size=4, per_device_eval_batch_size=2,
                     max_steps=max_steps, eval_strategy="steps" if evaluate else "no",
                     eval_steps=2, logging_steps=1, report_to="none",
                     save_strategy="no", disable_tqdm=True, max_length=16,
                     disable_dropout=False)  # dropout draws from torch's RNG at every step
    trainer = DPOTrainer(model=build_model(tokenizer), ref_model=build_model(tokenizer), args=args,
                         train_dataset=Dataset.from_dict(pairs),
                         eval_dataset=Dataset.from_dict({k: v[:2] for k, v in pairs.items()}),
                         processing_class=tokenizer)
    if callback is not None:
        callback.attach(trainer)
    trainer.train()
    return trainer


def test_sampling_callback_logs_on_evaluate_in_a_dpo_run(tmp_path, tiny_tokenizer):
    monitor = TrainingMonitor(gold_fn=gold_len, run_dir=tmp_path / "run")
    sampler = SamplingMonitorCallback(monitor, ["w1 w2", "w3 w4", "the"], num_samples=4,
                                      max_new_tokens=6, seed=3)
    watched = train_dpo(tmp_path, tiny_tokenizer, "watched", sampler)
    plain = train_dpo(tmp_path, tiny_tokenizer, "plain")

    assert [r["step"] for r in monitor.history] == [2, 4]
    assert len(sampler.last_completions) == 12
    logged = [r for r in watched.state.log_history if "monitor/within_distinct_2" in r]
    assert [r["step"] for r in logged] == [2, 4]
    assert {"monitor/gold_mean", "monitor/across_distinct_2", "monitor/alarm"} <= set(logged[0])
    # sampling ran in a forked random state: training (dropout included) is unchanged
    assert [r["loss"] for r in train_logs(watched)] == [r["loss"] for r in train_logs(plain)]
    assert [r["eval_loss"] for r in watched.state.log_history if "eval_loss" in r] == \
           [r["eval_loss"] for r in plain.state.log_history if "eval_loss" in r]


def test_sampling_callback_every_n_steps(tmp_path, tiny_tokenizer):
    monitor = TrainingMonitor()
    sampler = SamplingMonitorCallback(monitor, ["w1 w2", "w3"], num_samples=2, on="step",
                                      every_n_steps=1, max_new_tokens=4)
    trainer = train_dpo(tmp_path, tiny_tokenizer, "steps", sampler, max_steps=2, evaluate=False)
    assert [r["step"] for r in monitor.history] == [1, 2]
    assert [r["step"] for r in trainer.state.log_history if "monitor/mean_length" in r] == [1, 2]


def test_sample_completions_is_seeded_and_restores_state(tiny_tokenizer):
    model = build_model(tiny_tokenizer).train()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    kw = dict(num_samples=3, max_new_tokens=5, temperature=1.0, batch_size=1, seed=7)
    prompts, texts = sample_completions(model, tiny_tokenizer, ["w1", "w2 w3"], **kw)
    assert torch.equal(torch.get_rng_state(), before) and model.training
    assert prompts == ["w1"] * 3 + ["w2 w3"] * 3
    assert sample_completions(model, tiny_tokenizer, ["w1", "w2 w3"], **kw)[1] == texts
    assert all(len(t.split()) <= 5 for t in texts)  # only the new tokens are decoded


def test_sampling_callback_must_be_attached():
    cb = SamplingMonitorCallback(TrainingMonitor(), ["w1"])
    with pytest.raises(InputError, match=r"attach\(trainer\)"):
        cb.on_train_begin(None, None, None)


# --------------------------------------------------------------------------- bad input

def test_bad_input_raises_input_error_with_the_fix(tmp_path):
    m = TrainingMonitor()
    with pytest.raises(InputError, match=r"len\(prompts\)=2 should equal len\(completions\)=3"):
        m.observe(0, ["p", "q"], ["a", "b", "c"])
    with pytest.raises(InputError, match=r"gold\[1\]=nan is not finite"):
        m.observe(0, ["p", "q"], ["a", "b"], gold=[1.0, math.nan])
    with pytest.raises(InputError, match=r"gold\[0\]=nan is not finite"):
        TrainingMonitor(gold_fn=lambda prompts, completions: [math.nan, 1.0]).observe(
            0, ["p", "q"], ["a", "b"])
    with pytest.raises(InputError, match="proxy has 1 values for 2 completions"):
        m.observe(0, ["p", "q"], ["a", "b"], proxy=[1.0])
    m.observe(3, ["p"], ["a"])
    with pytest.raises(InputError, match="must not decrease"):
        m.observe(2, ["p"], ["a"])
    with pytest.raises(InputError, match="every_n_steps=0 should be an int >= 1"):
        MonitorConfig(every_n_steps=0)
    with pytest.raises(InputError, match="AlarmConfig"):
        MonitorConfig(alarm={"window": 5})
    with pytest.raises(InputError, match="called without trainer_state"):
        m.reward_function()(prompts=["p"], completions=["a"])

    async def async_reward(prompts, completions, **kw):  # pragma: no cover - never awaited
        await asyncio.sleep(0)
        return [0.0]

    with pytest.raises(InputError, match="async"):
        m.wrap(async_reward)
    # the observer before the wrapped proxy on one batch: told to reorder
    m2 = TrainingMonitor()
    batch = ["a", "b"]
    m2.reward_function()(prompts=["p", "p"], completions=batch,
                         trainer_state=SimpleNamespace(global_step=0))
    with pytest.raises(InputError, match=r"put monitor.reward_function\(\) last"):
        m2.wrap(lambda prompts, completions, **kw: [0.0, 1.0])(prompts=["p", "p"],
                                                                completions=batch)


def test_early_stop_and_alarm_stop_training_are_one_switch():
    assert MonitorConfig(early_stop=True).effective_alarm.stop_training
    assert MonitorConfig(alarm=AlarmConfig(stop_training=True)).stops_training
    assert not MonitorConfig().stops_training
    assert not MonitorConfig(early_stop=True).alarm.stop_training  # fields are never rewritten
