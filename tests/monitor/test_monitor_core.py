"""The monitor's core: per-step statistics equal the metrics library's, and the hacking alarm
fires on hacked traces and stays quiet on healthy ones."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from rewardshift._exceptions import InputError
from rewardshift.metrics.embed import embed_texts
from rewardshift.metrics.lexical import distinct_n, self_bleu
from rewardshift.metrics.semantic import embedding_diversity
from rewardshift.metrics.tokenize import WordTokenizer, tokenize_all
from rewardshift.monitor import (
    AlarmConfig,
    AlarmEvent,
    HackingAlarm,
    StepStatistics,
    step_statistics,
)

VOCAB = [f"w{i}" for i in range(50)]
SEEDS = range(5)
T = 200
STEPS = np.arange(T)


class HashEncoder:
    """A deterministic stand-in for a sentence encoder: hashed bag of words, 16 dimensions."""

    def encode(self, texts, **kw):
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, sum(map(ord, word)) % 16] += 1.0
            out[i, 15] += 0.5  # no all-zero row for an empty text
        return out


def random_texts(rng, n, length=12):
    return [" ".join(rng.choice(VOCAB, size=length)) for _ in range(n)]


# --------------------------------------------------------------------------- step statistics

def test_statistics_equal_the_metrics_library():
    rng = np.random.default_rng(0)
    texts = random_texts(rng, 12) + ["W1 w2 w1 w2 w1", "", "the the the the the", "a"]
    groups = [i % 4 for i in range(len(texts))]
    proxy, gold = rng.normal(size=len(texts)), rng.normal(size=len(texts))
    enc = HashEncoder()
    s = step_statistics(texts, group_ids=groups, proxy=proxy, gold=gold, embed=True,
                        embed_model=enc)
    toks = tokenize_all(texts, WordTokenizer())
    members = [[i for i, g in enumerate(groups) if g == k] for k in range(4)]
    emb = embed_texts(texts, model=enc)
    assert s["within_distinct_2"] == np.mean([distinct_n([toks[i] for i in m], n=2)
                                              for m in members])
    assert s["within_self_bleu_4"] == np.mean([self_bleu([toks[i] for i in m], max_n=4)
                                               for m in members])
    assert s["within_embedding_diversity"] == np.mean(
        [embedding_diversity(embed_texts([texts[i] for i in m], model=enc)) for m in members])
    firsts = [m[0] for m in members]
    assert s["across_distinct_2"] == distinct_n([toks[i] for i in firsts], n=2)
    assert s["across_self_bleu_4"] == self_bleu([toks[i] for i in firsts], max_n=4)
    assert s["across_embedding_diversity"] == embedding_diversity(emb[firsts])
    assert s["mean_length"] == np.mean([len(t) for t in toks])
    assert s["proxy_mean"] == pytest.approx(proxy.mean(), abs=1e-15)
    assert s["gold_std"] == pytest.approx(gold.std(), abs=1e-15)
    assert s["proxy_gold_spearman"] == pytest.approx(spearmanr(proxy, gold).statistic, abs=1e-15)
    assert (s["n_completions"], s["n_groups"]) == (16.0, 4.0)
    assert s["empty_rate"] == 1 / 16
    assert s.notes == {}
    assert isinstance(s, StepStatistics) and isinstance(s, dict)


def test_statistics_use_the_given_tokenizer():
    texts = ["ab cd", "ab ce", "xy zz"]
    chars = list  # a character tokenizer
    s = step_statistics(texts, tokenizer=chars)
    toks = tokenize_all(texts, chars)
    assert s["within_distinct_2"] == distinct_n(toks, n=2)
    assert s["within_self_bleu_4"] == self_bleu(toks, max_n=4)
    assert s["mean_length"] == 5.0


def test_repetition_rate_definition():
    texts = ["the the the the the",   # "the the the" x3: repetitive (smallest case)
             "the the the the",       # x2: not
             "a b c a b c a b c",     # "a b c" x3: repetitive
             "a b",                   # shorter than a 3-gram: not
             ""]
    assert step_statistics(texts)["repetition_rate"] == 2 / 5


def test_one_completion_per_group_skips_within_with_a_note():
    s = step_statistics(["a b c", "d e f", "g h i"], group_ids=["p", "q", "r"])
    for key in ("within_distinct_2", "within_self_bleu_4"):
        assert key not in s and "group with >= 2" in s.notes[key]
    assert s["across_distinct_2"] == 1.0 and "across_self_bleu_4" in s


def test_single_group_skips_across_and_rewards_without_values_are_noted():
    s = step_statistics(["a b c", "a b d"])  # group_ids=None: one group
    assert "across_distinct_2" not in s and "needs >= 2 groups" in s.notes["across_distinct_2"]
    assert s.notes["gold_mean"] == "no gold reward given"
    assert "proxy_gold_spearman" in s.notes


@pytest.mark.parametrize("texts", [[""], ["", ""], ["", "", "", ""], ["a", "b"], ["x"]])
def test_degenerate_batches_are_nan_free(texts):
    s = step_statistics(texts, group_ids=[i % 2 for i in range(len(texts))],
                        proxy=[1.0] * len(texts), gold=list(range(len(texts))))
    assert all(isinstance(v, float) and math.isfinite(v) for v in s.values())
    assert {"repetition_rate", "mean_length", "proxy_mean", "gold_mean"} <= set(s)
    assert "within_distinct_2" not in s and "within_distinct_2" in s.notes
    assert "proxy_gold_spearman" not in s and "proxy_gold_spearman" in s.notes


def test_empty_completion_in_a_group_still_counts_the_others():
    s = step_statistics(["a b c", "", "a b c"], group_ids=[0, 0, 0])
    assert s["within_distinct_2"] == distinct_n([["a", "b", "c"], [], ["a", "b", "c"]], n=2)
    assert s["empty_rate"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"completions": "one text"}, "one string"),
    ({"completions": []}, "empty"),
    ({"completions": ["a", 3]}, r"completions\[1\]"),
    ({"completions": ["a", "b"], "group_ids": [0]}, "len.group_ids.=1"),
    ({"completions": ["a", "b"], "proxy": [1.0]}, "shape"),
    ({"completions": ["a", "b"], "gold": [1.0, float("nan")]}, r"gold\[1\]"),
])
def test_step_statistics_input_errors(kwargs, match):
    completions = kwargs.pop("completions")
    with pytest.raises(InputError, match=match):
        step_statistics(completions, **kwargs)


# --------------------------------------------------------------------------- alarm traces

def run_alarm(proxy, gold=None, config=None):
    alarm = HackingAlarm(config)
    for step in range(len(proxy)):
        stats = {"proxy_mean": proxy[step]}
        if gold is not None:
            stats["gold_mean"] = gold[step]
        alarm.update(step, stats)
    return alarm


def hacked_gold_trace(seed):
    """Proxy rises linearly; gold rises with it until step 60, then falls (Gao et al. 2022)."""
    rng = np.random.default_rng(seed)
    proxy = 0.02 * STEPS + rng.normal(0, 0.1, T)
    gold = np.where(STEPS < 60, 0.02 * STEPS, 1.2 - 0.02 * (STEPS - 60)) + rng.normal(0, 0.05, T)
    return proxy, gold


@pytest.mark.parametrize("seed", SEEDS)
def test_alarm_fires_once_after_the_gold_turns(seed):
    alarm = run_alarm(*hacked_gold_trace(seed), AlarmConfig(stop_training=True))
    assert len(alarm.events) == 1
    event = alarm.events[0]
    assert isinstance(event, AlarmEvent) and event.reason == "gold_falls"
    assert 60 < event.step <= 80  # after the turn, within one window
    assert event.values["proxy_slope_low"] > 0 and event.values["gold_slope_high"] < 0
    assert event.values["gold_drop"] > event.values["gold_drop_margin"]
    assert event.stop_training and alarm.should_stop
    assert f"step {event.step}" in event.message


@pytest.mark.parametrize("seed", SEEDS)
def test_alarm_quiet_on_healthy_traces(seed):
    rng = np.random.default_rng(100 + seed)
    rising = run_alarm(0.02 * STEPS + rng.normal(0, 0.1, T), 0.01 * STEPS + rng.normal(0, 0.1, T))
    flat = run_alarm(rng.normal(0, 0.1, T), rng.normal(0, 0.1, T))
    flat_no_gold = run_alarm(rng.normal(0, 0.1, T))
    assert rising.events == [] and flat.events == [] and flat_no_gold.events == []
    assert not rising.should_stop


def text_trace(seed, *, hacked):
    """Step statistics of 4 prompts x 4 completions; if hacked, after step 60 a growing share
    of completions becomes "the the the ..." (all of them by step 80) while the proxy rises."""
    rng = np.random.default_rng(seed)
    alarm = HackingAlarm()
    for step in range(120):
        texts = random_texts(rng, 16)
        share = min(1.0, max(0.0, (step - 60) / 20)) if hacked else 0.0
        texts = ["the " * 12 if rng.random() < share else t for t in texts]
        proxy = 0.02 * step + rng.normal(0, 0.1, 16)
        alarm.update(step, step_statistics(texts, group_ids=[i // 4 for i in range(16)],
                                           proxy=proxy))
    return alarm


@pytest.mark.parametrize("seed", SEEDS)
def test_alarm_fires_on_degenerate_text_without_gold(seed):
    alarm = text_trace(seed, hacked=True)
    assert len(alarm.events) == 1
    event = alarm.events[0]
    assert event.reason in {"diversity_collapse", "repetition"}
    assert 60 < event.step <= 80
    assert event.values["diversity_level"] < 0.5 * event.values["diversity_baseline"] or \
        event.values["repetition_level"] > 0.5
    assert not event.stop_training and not alarm.should_stop


def test_alarm_quiet_on_healthy_text_without_gold():
    assert text_trace(7, hacked=False).events == []


def test_alarm_is_deterministic():
    a = run_alarm(*hacked_gold_trace(3))
    b = run_alarm(*hacked_gold_trace(3))
    assert a.events == b.events and a.events


def test_alarm_waits_for_warmup_and_skips_missing_values():
    alarm = HackingAlarm(AlarmConfig(window=5, warmup=10, smooth=1))
    for step in range(9):  # proxy up, gold down from step 0: only warm-up holds it back
        assert alarm.update(step, {"proxy_mean": step, "gold_mean": -step}) is None
    # NaN and missing values add no point; the gold branch needs gold in this step's stats
    assert alarm.update(9, {"proxy_mean": 9.0, "gold_mean": float("nan"),
                                 "repetition_rate": "n/a"}) is None
    event = alarm.update(10, {"proxy_mean": 10.0, "gold_mean": -10.0})
    assert event is not None and event.step == 10 and alarm.events == [event]
    assert alarm.update(11, {"proxy_mean": 11.0, "gold_mean": -11.0}) is None  # latched


def test_alarm_steps_must_increase():
    alarm = HackingAlarm()
    alarm.update(3, {})
    with pytest.raises(InputError, match="step=3 should be > the previous step=3"):
        alarm.update(3, {})
    with pytest.raises(InputError, match="step must be an int"):
        alarm.update(4.5, {})


# --------------------------------------------------------------------------- config

@pytest.mark.parametrize("kwargs, match", [
    ({"window": 4}, "window=4 should be >= 5"),
    ({"window": 20.0}, "window must be an int"),
    ({"window": 30, "warmup": 20}, "warmup=20 should be >= window=30"),
    ({"smooth": 0}, "smooth=0 should be in"),
    ({"smooth": 21}, "smooth=21 should be in"),
    ({"confidence": 1.0}, "confidence=1.0 should be in"),
    ({"diversity_ratio": 0}, "diversity_ratio=0 should be in"),
    ({"repetition_threshold": 1.0}, "repetition_threshold=1.0"),
    ({"gold_drop_sigmas": -1.0}, "gold_drop_sigmas=-1.0 should be"),
    ({"gold_drop_min": float("nan")}, "gold_drop_min=nan"),
    ({"proxy_key": ""}, "proxy_key must be a non-empty str"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(InputError, match=match):
        AlarmConfig(**kwargs)


def test_every_config_field_has_help():
    for f in dataclasses.fields(AlarmConfig):
        assert f.metadata.get("help"), f.name
