"""``rewardshift real-pair --small`` end to end on the tiny base: every stage, resume, errors.

The full run on Gemma 3 270M (``make real-pair``, about 40 minutes) is the same code with a
bigger configuration; here the tiny GPT-2 of ``small_base`` stands in through ``--model``,
the code path of any local or hub model.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardshift.cli import app


def _real_pair(*args: str):
    return CliRunner().invoke(app, ["real-pair", "--small", *args])


def _said(res) -> str:
    """The CLI's output with the console's line wrapping undone."""
    return " ".join(res.output.split())


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def made(small_base, tmp_path_factory):
    base, _ = small_base
    out = tmp_path_factory.mktemp("rp") / "run"
    res = _real_pair("--model", str(base), "--out", str(out))
    assert res.exit_code == 0, res.output
    return base, out, json.loads((out / "summary.json").read_text())


def test_every_stage_leaves_its_output(made) -> None:
    base, out, s = made
    assert s["kind"] == "real_pair" and s["base"]["path"] == str(base)
    samples = _jsonl(out / "pairs" / "samples.jsonl")
    pairs = _jsonl(out / "pairs" / "pairs.jsonl")
    assert len(samples) == s["n_samples"] and len(pairs) == s["pairs"]["n_pairs"] > 0
    assert all(np.isfinite(r["logprob"]) and r["n_tokens"] >= 1 for r in samples)
    by_prompt = {r["prompt_id"]: r["prompt"] for r in samples}
    for p in pairs:
        assert p["chosen"] != p["rejected"] and by_prompt[p["prompt_id"]] == p["prompt"]
        assert 0 < p["p_chosen"] < 1
    assert set(s["timings"]) == {"base", "samples", "pairs", "dpo", "audit", "report"}
    assert s["dpo"]["log"] and "loss" in s["dpo"]["final"]
    assert s["peak_rss_gb"] > 0.1
    assert s["audit"]["verdicts"] and (out / "audit" / "summary.json").is_file()
    assert s["audit"]["headline"]
    html = (out / "report.html").read_text()
    for heading in ("Verdicts", "What the raters preferred", "DPO training",
                    "Audit: base vs tuned", "Time and memory", "Example pairs"):
        assert heading in html
    assert (out / "figures" / "raters.png").is_file()
    assert (out / "figures" / "glance.png").is_file()  # personas and reviews, base vs tuned


def test_glance_figure_needs_a_persona_or_review_probe() -> None:
    from rewardshift.report.real_pair import glance_figure

    assert glance_figure({"probes": {"attractors": {"tables": {}}}}) is None
    reviews = {"tables": {src: {"bins": {"[-1.0, 0.0)": 1, "[0.0, 1.0]": k}}
                          for src, k in (("base", 1), ("tuned", 3))}}
    fig = glance_figure({"probes": {"reviews": reviews}})
    assert len(fig.axes) == 1 and "75% in the top bin" in str(
        [t.get_text() for t in fig.axes[0].get_legend().get_texts()])


def test_tuned_is_a_merged_plain_model_that_moved(made) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    base, out, _ = made
    assert not (out / "tuned" / "adapter_config.json").exists()
    b = AutoModelForCausalLM.from_pretrained(base)
    t = AutoModelForCausalLM.from_pretrained(out / "tuned")
    assert type(b) is type(t)
    diffs = [float((pb - pt).abs().max()) for (_, pb), (_, pt)
             in zip(b.named_parameters(), t.named_parameters(), strict=True)]
    assert max(diffs) > 0  # LoRA moved some weights
    with torch.no_grad():
        ids = torch.tensor([[1, 2, 3]])
        assert torch.isfinite(t(ids).logits).all()


def test_same_seed_same_pairs_and_verdicts(made, tmp_path) -> None:
    base, out, s = made
    res = _real_pair("--model", str(base), "--out", str(tmp_path / "again"))
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert ((tmp_path / "again" / "pairs" / "pairs.jsonl").read_text()
            == (out / "pairs" / "pairs.jsonl").read_text())
    assert again["audit"]["verdicts"] == s["audit"]["verdicts"]
    assert again["dpo"]["log"] == s["dpo"]["log"]


def test_an_interrupted_run_resumes_from_its_finished_stages(made, tmp_path) -> None:
    base, out, s = made
    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    for name in ("summary.json", "report.html"):
        (cut / name).unlink()
    shutil.rmtree(cut / "audit")
    res = _real_pair("--model", str(base), "--out", str(cut))
    assert res.exit_code == 0, res.output
    resumed = json.loads((cut / "summary.json").read_text())
    assert resumed["timings"]["samples"] == resumed["timings"]["dpo"] == 0.0  # reused
    assert resumed["audit"]["verdicts"] == s["audit"]["verdicts"]

    res = _real_pair("--model", str(base), "--out", str(cut))
    assert res.exit_code == 2 and "already holds a finished real pair" in _said(res)
    (cut / "summary.json").unlink()
    res = _real_pair("--model", str(base), "--out", str(cut), "--seed", "5")
    assert res.exit_code == 2 and "another configuration" in _said(res)


def test_bad_arguments_are_clear(small_base, tmp_path) -> None:
    base, _ = small_base
    res = CliRunner().invoke(app, ["real-pair", "--small", "--config", "x.toml"])
    assert res.exit_code == 2 and "either --config or --small" in _said(res)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other.txt").write_text("keep me")
    res = _real_pair("--model", str(base), "--out", str(tmp_path / "full"))
    assert res.exit_code == 2 and "holds no real pair" in _said(res)
    assert (tmp_path / "full" / "other.txt").read_text() == "keep me"
    res = _real_pair("--model", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "g"))
    assert res.exit_code == 2 and "nope.gguf: no such GGUF file" in _said(res)


def test_report_escapes_generated_text(tmp_path) -> None:
    from rewardshift.realpair.run import RealPairConfig
    from rewardshift.report.real_pair import write_real_pair_report
    from rewardshift.rundir import RunDir

    rd = RunDir.create(tmp_path, "r")
    rec = {"prompt_id": "p", "chosen": "<script>alert(1)</script>", "rejected": "a & b",
           "p_chosen": 0.9}
    for k in ("sentiment", "brevity", "typicality"):
        rec[f"{k}_chosen"], rec[f"{k}_rejected"] = 0.5, 0.1
    feat = {"chosen": 0.5, "rejected": 0.1, "chosen_higher": 1.0}
    summary = {"base": {"model": "m<b>"}, "n_prompts": 1, "n_samples": 2,
               "pairs": {"n_pairs": 1, "mean_p_chosen": 0.9, "sentiment": feat,
                         "brevity": feat, "typicality": feat},
               "dpo": {"log": [{"step": 1, "loss": 0.6}], "final": {"step": 1, "loss": 0.6}},
               "audit": {"verdicts": ["<i>v</i>"], "headline": {}}}
    write_real_pair_report(rd, summary, records=[rec],
                           config=RealPairConfig.small().to_dict())
    html = (rd.path / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>v</i>" not in html and "m<b>" not in html
