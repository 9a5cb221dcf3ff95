"""``rewardshift audit`` end to end on the tiny base/tuned pair that ``lm run --small`` leaves."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rewardshift.cli import app
from rewardshift.samples import read_samples


def _audit(*args: str):
    return CliRunner().invoke(app, ["audit", *args])


@pytest.fixture(scope="module")
def audited(small_run, tmp_path_factory):
    run, s = small_run
    out = tmp_path_factory.mktemp("audit") / "a"
    res = _audit("--base", str(run / "base"), "--tuned", str(run / s["tuned_path"]),
                 "--n", "3", "--no-embeddings", "--max-new-tokens", "24", "--out", str(out))
    assert res.exit_code == 0, res.output
    return out, json.loads((out / "summary.json").read_text())


def test_audit_writes_every_probe_and_verdicts(audited) -> None:
    out, s = audited
    assert set(s["probes"]) == {"personas", "reviews", "attractors"}
    assert s["verdicts"] and all(isinstance(v, str) for v in s["verdicts"])
    for name, r in s["probes"].items():
        assert r["base"] == "base" and r["tuned"] == "tuned", name
        assert r["comparisons"], name
        scopes = {c["scope"] for c in r["comparisons"]}
        assert {"per_input", "across_input"} <= scopes, name
    assert (out / "report.html").is_file()
    assert any((out / "figures").glob("*.png"))


def test_audit_samples_cover_both_models_and_every_probe(audited) -> None:
    out, _ = audited
    samples = read_samples(out / "samples.parquet")
    assert {x.source for x in samples} == {"base", "tuned"}
    assert {x.meta["probe"] for x in samples} == {"personas", "reviews", "attractors"}
    assert {x.meta["temperature"] for x in samples if x.meta["probe"] == "attractors"} == {
        0.5, 1.0, 1.5}
    # the tiny models write their grammar's texts whatever the prompt: reviews with personas
    assert all(x.logprob is not None and x.logprob <= 0 for x in samples)


def test_audit_is_deterministic(small_run, audited, tmp_path) -> None:
    run, s = small_run
    out, first = audited
    res = _audit("--base", str(run / "base"), "--tuned", str(run / s["tuned_path"]),
                 "--probes", "personas", "--n", "3", "--no-embeddings", "--max-new-tokens",
                 "24", "--out", str(tmp_path / "b"))
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert again["probes"]["personas"]["summary"] == first["probes"]["personas"]["summary"]


@pytest.mark.parametrize("args, message", [
    (["--probes", "sparkle"], "unknown"),
    (["--n", "1"], "--n"),
    (["--backend", "openai"], "--base-url"),
    (["--backend", "carrier-pigeon"], "--backend"),
])
def test_audit_bad_input_is_a_clear_error(small_run, tmp_path, args, message) -> None:
    run, s = small_run
    res = _audit("--base", str(run / "base"), "--tuned", str(run / s["tuned_path"]),
                 "--out", str(tmp_path / "x"), *args)
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_audit_refuses_the_same_model_twice(small_run, tmp_path) -> None:
    run, _ = small_run
    res = _audit("--base", str(run / "base"), "--tuned", str(run / "base"),
                 "--out", str(tmp_path / "x"))
    assert res.exit_code == 2 and "same" in res.output
