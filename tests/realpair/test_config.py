"""RealPairConfig: validation, round trip, held-out training prompts."""

from __future__ import annotations

import json

import pytest

from rewardshift._exceptions import InputError
from rewardshift.config import read_settings_file
from rewardshift.realpair.run import RealPairConfig, training_prompts


def test_round_trip_and_small() -> None:
    for cfg in (RealPairConfig(), RealPairConfig.small(model="x", seed=3)):
        assert RealPairConfig.from_dict(cfg.to_dict()) == cfg
    s = RealPairConfig.small(seed=3)
    assert s.seed == 3 and s.dpo.lora_r > 0 and s.dpo.log_every == 1


@pytest.mark.parametrize("kw, match", [
    ({"samples_per_prompt": 1}, "samples_per_prompt"),
    ({"audit_n": 0}, "audit_n"),
    ({"max_new_tokens": 2.5}, "max_new_tokens"),
    ({"temperature": 0}, "temperature"),
    ({"persona_prompts": 0, "review_prompts": 0}, "at least one prompt"),
    ({"review_prompts": 99}, "review_prompts"),
])
def test_bad_values_are_named(kw, match) -> None:
    with pytest.raises(InputError, match=match):
        RealPairConfig(**kw)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(InputError, match="unknown real-pair settings.*'sampels'"):
        RealPairConfig.from_dict({"sampels": 3})


def test_training_prompts_are_held_out_from_the_probes() -> None:
    from rewardshift.probes import PROBES

    train = {p for _, p in training_prompts(16, 16)}
    audit = {p for name in ("personas", "reviews") for _, p in PROBES[name](embed=False)
             .prompts()}
    assert len(train) == 32 and not train & audit
    ids = [i for i, _ in training_prompts(2, 1)]
    assert ids == ["train-persona-00", "train-persona-01", "train-review-00"]


def test_settings_file(tmp_path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[real_pair]\nsamples_per_prompt = 4\n[real_pair.dpo]\nbeta = 0.2\n'
                 'lora_r = 8\n[real_pair.raters]\nalpha = 0.5\n')
    cfg = RealPairConfig.from_dict(read_settings_file(p, "real_pair"))
    assert (cfg.samples_per_prompt, cfg.dpo.beta, cfg.dpo.lora_r, cfg.raters.alpha) == (
        4, 0.2, 8, 0.5)
    j = tmp_path / "c.json"
    j.write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="c.json.*table/object"):
        read_settings_file(j, "real_pair")
    j.write_text("{not json")
    with pytest.raises(InputError, match="c.json: not valid JSON"):
        read_settings_file(j, "real_pair")
    with pytest.raises(InputError, match="cannot read real_pair config"):
        read_settings_file(tmp_path / "missing.toml", "real_pair")
