"""rewardshift.config: one from_dict / to_dict for every config dataclass."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from rewardshift._exceptions import InputError
from rewardshift.audit import AuditConfig
from rewardshift.config import Config, config_from_dict, config_to_dict, read_settings_file
from rewardshift.lab.run import LabConfig
from rewardshift.lm.run import LMConfig, load_lm_config
from rewardshift.measure import MeasureConfig
from rewardshift.monitor import AlarmConfig, MonitorConfig
from rewardshift.prefs import PrefsConfig
from rewardshift.realpair.run import RealPairConfig

CONFIGS = [
    LMConfig(), LMConfig.small(seed=2), RealPairConfig(), RealPairConfig.small(seed=3),
    LabConfig(), LabConfig(world="personas", rm="mlp", rm_visible=("a", "log_ref"),
                           rater_weights={"a": 1.0}, world_config={"n": 3}),
    MeasureConfig(), MeasureConfig(metrics=("lexical",), quality_field="q",
                                   quality_threshold=0.5, max_across=None),
    AlarmConfig(), AlarmConfig(window=5, warmup=5, smooth=1), MonitorConfig(),
    MonitorConfig(every_n_steps=3, alarm=AlarmConfig(window=6, warmup=6)),
    PrefsConfig(), PrefsConfig(seed=4, n_boot=10),
    AuditConfig(base="a", tuned="b", probes=("personas",)),
]
IDS = [f"{type(c).__name__}-{i}" for i, c in enumerate(CONFIGS)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_round_trip_through_json(cfg) -> None:
    d = cfg.to_dict()
    back = type(cfg).from_dict(json.loads(json.dumps(d)))
    assert back == cfg
    assert back.to_dict() == d


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_configs_are_frozen(cfg) -> None:
    name = dataclasses.fields(cfg)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, name, getattr(cfg, name))


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_post_init_keeps_every_field_it_was_given(cfg) -> None:
    given = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.init}
    again = type(cfg)(**given)
    assert all(getattr(again, k) is v for k, v in given.items())


def test_lab_config_keeps_lists_and_orders_betas_in_a_property() -> None:
    betas, hidden = [2.0, 0.5, 1.0], [8]
    cfg = LabConfig(betas=betas, rm_hidden=hidden)
    assert cfg.betas is betas and cfg.rm_hidden is hidden
    assert cfg.beta_grid == (0.5, 1.0, 2.0)
    read = LabConfig.from_dict({"betas": [2, 1], "rm_hidden": [8, 4], "rm_visible": ["a"]})
    assert (read.betas, read.rm_hidden, read.rm_visible) == ((2.0, 1.0), (8, 4), ("a",))


def test_monitor_config_keeps_its_two_stop_spellings_in_step() -> None:
    # early_stop and alarm.stop_training mean the same; the fields keep what was given
    one = MonitorConfig(early_stop=True)
    assert one.effective_alarm.stop_training and not one.alarm.stop_training
    other = MonitorConfig.from_dict({"alarm": {"stop_training": True}})
    assert other.stops_training and not other.early_stop


@pytest.mark.parametrize("data, words", [
    ({"sede": 1}, r"unknown lm config keys \['sede'\] \(did you mean 'seed'\?\)"),
    ({"dpo": {"bta": 0.2}}, r"\['dpo.bta'\] \(did you mean 'dpo.beta'\?\).*known keys of 'dpo'"),
    ({"grpo": [{"name": "grpo-kl", "step": 3}]}, r"'grpo\[0\].step'.*did you mean"),
    ({"zzzz": 1, "eval_kk": 4}, r"\['zzzz', 'eval_kk'\] \(did you mean 'eval_k' for 'eval_kk'"),
])
def test_unknown_keys_name_the_key_and_the_closest_spelling(data, words) -> None:
    with pytest.raises(InputError, match=words):
        LMConfig.from_dict(data)


@pytest.mark.parametrize("data, words", [
    ({"eval_k": "4"}, r"key 'eval_k' should be int, got '4'"),
    ({"eval_k": True}, r"key 'eval_k' should be int, got True"),
    ({"bon_ns": [1, "x"]}, r"key 'bon_ns' should be a list of int"),
    ({"pretrain": 3}, r"key 'pretrain' should be a table of PretrainConfig settings, got 3"),
    ({"grpo": [{"name": 7}]}, r"key 'grpo\[0\].name' should be str, got 7"),
    ({"dpo": "no"}, r"key 'dpo' should be a table of DPOSettings settings or None"),
])
def test_wrong_types_name_field_expected_type_and_value(data, words) -> None:
    with pytest.raises(InputError, match=words):
        LMConfig.from_dict(data)


def test_conversions() -> None:
    cfg = RealPairConfig.from_dict({"temperature": 1, "probes": ["personas"],
                                    "dpo": {"lora_targets": ["q_proj"]}})
    assert isinstance(cfg.temperature, float) and cfg.probes == ("personas",)
    assert cfg.dpo.lora_targets == ("q_proj",)
    # TOML has no null: an empty table turns an optional nested config off
    assert LMConfig.from_dict({"dpo": {}}).dpo is None
    assert MeasureConfig.from_dict({"max_across": None}).max_across is None


def test_validation_errors_pass_through_and_name_the_source(tmp_path) -> None:
    with pytest.raises(InputError, match="eval_k"):
        LMConfig.from_dict({"eval_k": 1})
    with pytest.raises(InputError, match=r"key 'dpo': .*beta"):
        RealPairConfig.from_dict({"dpo": {"beta": -1.0}})
    p = tmp_path / "lm.toml"
    p.write_text('[lm]\neval_k = 1\n')
    with pytest.raises(InputError, match=r"lm.toml: LMConfig.eval_k=1"):
        load_lm_config(p)
    p.write_text('[lm]\nsede = 1\n')
    with pytest.raises(InputError, match=r"lm.toml: unknown lm config keys.*'seed'"):
        LMConfig.from_file(p, "lm")


@dataclass(frozen=True)
class _Inner(Config):
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class _Outer(Config):
    name: str
    inner: _Inner = field(default_factory=_Inner)
    table: dict[str, float] = field(default_factory=dict)
    pair: tuple[int, str] = (1, "x")
    anything: Any = None


def test_generic_cases() -> None:
    o = _Outer.from_dict({"name": "n", "inner": {"mode": "b"}, "table": {"k": 1},
                          "pair": [2, "y"], "anything": {"free": [1]}})
    assert o == _Outer("n", _Inner("b"), {"k": 1.0}, (2, "y"), {"free": [1]})
    assert config_from_dict(_Outer, config_to_dict(o)) == o
    with pytest.raises(InputError, match=r"_Outer: missing required keys \['name'\]"):
        _Outer.from_dict({})
    with pytest.raises(InputError, match=r"'inner.mode' should be one of 'a', 'b', got 'c'"):
        _Outer.from_dict({"name": "n", "inner": {"mode": "c"}})
    with pytest.raises(InputError, match=r"'pair' should be a list of int, str"):
        _Outer.from_dict({"name": "n", "pair": [1]})
    with pytest.raises(InputError, match="x.json: "):
        _Outer.from_dict({"nme": "n"}, where="x.json")


def test_read_settings_file_and_its_deprecated_home(tmp_path) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"prefs": {"seed": 5}}))
    assert PrefsConfig.from_file(p, "prefs") == PrefsConfig(seed=5)
    assert read_settings_file(p, "other") == {"prefs": {"seed": 5}}
    import importlib
    import sys

    sys.modules.pop("rewardshift._settings", None)
    with pytest.warns(DeprecationWarning, match="rewardshift.config"):
        old = importlib.import_module("rewardshift._settings")
    assert old.read_settings_file is read_settings_file


def test_messages_name_no_cli_flags() -> None:
    with pytest.raises(InputError) as e:
        MeasureConfig(quality_field="q")
    assert "--" not in str(e.value)


def test_audit_pairs_takes_a_prefs_config_and_keywords_override_it() -> None:
    pytest.importorskip("vaderSentiment")
    import numpy as np

    from rewardshift.prefs import audit_pairs

    rows = [{"prompt": "p", "chosen": f"good answer {'x ' * i}", "rejected": f"bad {i}",
             "line": i + 1} for i in range(30)]

    def log_ref(prompts, texts):
        return -np.array([len(t) for t in texts], dtype=float)

    a = audit_pairs(rows, log_ref, PrefsConfig(seed=1, n_boot=20, n_permutations=50))
    b = audit_pairs(rows, log_ref, seed=1, n_boot=20, n_permutations=50)
    c = audit_pairs(rows, log_ref, PrefsConfig(seed=9, n_boot=20, n_permutations=50), seed=1)
    assert a.to_dict() == b.to_dict() == c.to_dict()
    with pytest.raises(InputError, match="n_boot"):
        PrefsConfig(n_boot=0)
