"""``rewardshift lm run --small`` end to end (CI size), and what its run directory holds."""

from __future__ import annotations

import json

import pytest

from rewardshift._exceptions import InputError
from rewardshift.lm.run import LMConfig, load_lm_config
from rewardshift.samples import read_samples


def test_small_pipeline_writes_a_finished_run(small_run) -> None:
    out, s = small_run
    for name in ("config.json", "summary.json", "metrics.jsonl", "samples.parquet",
                 "report.html"):
        assert (out / name).is_file(), name
    assert set(s["runs"]) == {"grpo-kl", "grpo-weak-kl", "grpo-no-kl", "dpo"}
    for run in s["runs"].values():
        assert run["checkpoints"][0] == 0 and len(run["checkpoints"]) >= 2
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    ck = [r for r in rows if r.get("phase") == "checkpoint"]
    assert {r["run"] for r in ck} == {"grpo-kl", "grpo-weak-kl", "grpo-no-kl", "dpo"}
    assert all({"proxy", "gold", "kl", "in_grammar"} <= set(r) for r in ck)
    assert any(r.get("phase") == "train" for r in rows)
    assert [r["n"] for r in rows if r.get("run") == "best-of-n"] == [1, 2, 4, 8, 16, 32]
    assert sum(r.get("run") == "closed-form" for r in rows) == 12


def test_small_pipeline_leaves_standard_checkpoints(small_run) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, s = small_run
    for path in ("base", s["tuned_path"], "grpo-no-kl/final", "dpo/final"):
        AutoModelForCausalLM.from_pretrained(out / path)
        AutoTokenizer.from_pretrained(out / path)


def test_grpo_raises_the_proxy(small_run) -> None:
    # the run without a KL penalty moves furthest: its proxy must beat the base's on the same prompts
    _, s = small_run
    weak = s["runs"]["grpo-no-kl"]
    assert weak["final"]["proxy"] > weak["first"]["proxy"]
    assert weak["final"]["kl"] > 0


def test_best_of_n_raises_the_proxy_and_kl_follows_the_bound(small_run) -> None:
    _, s = small_run
    bon = s["best_of_n"]
    assert bon[0]["kl"] == pytest.approx(0.0, abs=1e-12)
    assert bon[-1]["proxy"] > bon[0]["proxy"]
    assert all(r["kl"] <= r["kl_bound"] + 1e-9 for r in bon)


def test_samples_parquet_holds_base_and_every_run(small_run) -> None:
    out, s = small_run
    samples = read_samples(out / "samples.parquet")
    assert {x.source for x in samples} == {"base", *s["runs"]}
    assert all("gold" in x.meta and "proxy" in x.meta for x in samples)


def test_lm_run_refuses_to_overwrite_a_finished_run(small_run) -> None:
    from typer.testing import CliRunner

    from rewardshift.cli import app

    out, _ = small_run
    res = CliRunner().invoke(app, ["lm", "run", "--small", "--out", str(out)])
    assert res.exit_code == 2
    assert "already holds a finished lm run" in res.output


def test_lm_config_files(tmp_path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('seed = 3\neval_k = 4\n[pretrain]\nn_train = 100\n[[grpo]]\nname = "a"\n'
                 'steps = 2\n\n[dpo]\nname = "d"\n\ntuned_run = "a"\n')
    with pytest.raises(InputError):  # tuned_run after a table belongs to [dpo]
        load_lm_config(p)
    p.write_text('seed = 3\neval_k = 4\ntuned_run = "a"\n[pretrain]\nn_train = 100\n'
                 '[[grpo]]\nname = "a"\nsteps = 2\n')
    cfg = load_lm_config(p)
    assert (cfg.seed, cfg.pretrain.n_train, cfg.grpo[0].steps) == (3, 100, 2)
    assert LMConfig.from_dict(cfg.to_dict()) == cfg
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    with pytest.raises(InputError, match="bad.toml"):
        load_lm_config(bad)
    with pytest.raises(InputError, match="unknown lm config keys"):
        LMConfig.from_dict({"sede": 1})
    with pytest.raises(InputError, match="eval_k"):
        LMConfig(eval_k=1)


def test_lm_run_refuses_a_partial_directory(tmp_path) -> None:
    from typer.testing import CliRunner

    from rewardshift.cli import app

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('{"run": "grpo-kl"}\n')
    res = CliRunner().invoke(app, ["lm", "run", "--small", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "not an empty directory" in res.output
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == '{"run": "grpo-kl"}\n'
