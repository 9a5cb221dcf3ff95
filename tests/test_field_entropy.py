"""A categorical field per question: its entropy within each prompt, with a CI, a test and a
verdict, in nats or bits."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from rewardshift import InputError
from rewardshift.cli import app
from rewardshift.measure import MeasureConfig, measure
from rewardshift.samples import Sample, write_samples


def _pair(n_prompts: int = 12, k: int = 8) -> list[Sample]:
    """Base: each prompt's k samples split evenly between two answers (H = log 2 exactly);
    tuned: every sample gives the same answer (H = 0)."""
    out = []
    for p in range(n_prompts):
        for j in range(k):
            out.append(Sample(text=f"answer {j % 2} to {p}", prompt_id=f"q{p}", source="base",
                              meta={"choice": "AB"[j % 2]}))
            out.append(Sample(text=f"answer A to {p} ({j})", prompt_id=f"q{p}", source="tuned",
                              meta={"choice": "A"}))
    return out


@pytest.mark.parametrize(("unit", "h"), [("nats", math.log(2)), ("bits", 1.0)])
def test_per_prompt_entropy_ci_test_and_verdict(unit, h):
    cfg = MeasureConfig(field="choice", entropy_unit=unit, embeddings=False,
                        metrics=("distinct_1",), n_bootstrap=200)
    s = measure(_pair(), cfg, base="base", tuned="tuned").summary
    base = s["sources"]["base"]["metrics"]["choice_entropy"]
    tuned = s["sources"]["tuned"]["metrics"]["choice_entropy"]
    assert base["value"] == pytest.approx(h) and base["ci"] == pytest.approx([h, h])
    assert tuned["value"] == 0 and base["n_units"] == 12 and base["unit"] == unit
    c = s["comparison"]["metrics"]["choice_entropy"]
    assert c["verdict"] == "less diverse" and c["p_value"] < 0.01
    assert c["change"] == pytest.approx(-h) and c["per_input"]
    pooled = s["distributions"]["choice"]
    assert pooled["unit"] == unit and pooled["sources"]["base"]["entropy"] == pytest.approx(h)
    assert "choice_entropy" in s["definitions"]


def test_bad_unit_is_an_error():
    with pytest.raises(InputError, match="nats"):
        MeasureConfig(entropy_unit="hartleys")


def test_cli_table_shows_the_field_and_its_verdict(tmp_path):
    samples = _pair()
    write_samples([x for x in samples if x.source == "base"], tmp_path / "base.jsonl")
    write_samples([x for x in samples if x.source == "tuned"], tmp_path / "tuned.jsonl")
    res = CliRunner().invoke(app, ["measure", str(tmp_path / "base.jsonl"), "--compare",
                                   str(tmp_path / "tuned.jsonl"), "--field", "choice",
                                   "--entropy-unit", "bits", "--no-embeddings", "--metrics",
                                   "distinct_1", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "choice_entropy" in line)
    assert "less diverse" in row
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["entropy_unit"] == "bits"
    assert "choice_entropy" in (tmp_path / "run" / "report.html").read_text()
