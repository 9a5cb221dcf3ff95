"""Auditing your own generations: export the probes' prompts, generate, audit from JSONL."""

from __future__ import annotations

import json
import random

from typer.testing import CliRunner

from rewardshift.cli import app

NAMES = ["Maria", "Chen", "Amara", "Lukas", "Priya", "Diego"]
JOBS = ["nurse", "teacher", "engineer", "farmer", "chef", "pilot"]


def _persona(rng: random.Random, narrow: bool) -> str:
    name = "Maria" if narrow else rng.choice(NAMES)
    job = "teacher" if narrow else rng.choice(JOBS)
    return f"{name} is a {rng.randint(25, 60)}-year-old {job} from Lisbon who loves the app."


def _generate(rows: list[dict], path, narrow: bool, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for row in rows:
            for _ in range(row["n"]):
                fh.write(json.dumps({"prompt_id": row["prompt_id"], "prompt": row["prompt"],
                                     "text": _persona(rng, narrow)}) + "\n")


def test_export_then_audit_own_generations(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "--export-prompts", str(tmp_path / "prompts"),
                              "--probes", "personas", "--n", "4"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "prompts" / "personas.jsonl").open()]
    assert rows and {"prompt_id", "prompt", "n", "temperatures", "seed"} <= set(rows[0])
    assert all(r["n"] == 4 for r in rows) and len({r["prompt_id"] for r in rows}) == len(rows)
    _generate(rows, tmp_path / "base.jsonl", narrow=False, seed=1)
    _generate(rows, tmp_path / "tuned.jsonl", narrow=True, seed=2)
    res = runner.invoke(app, ["audit", "--backend", "jsonl", "--base", str(tmp_path / "base.jsonl"),
                              "--tuned", str(tmp_path / "tuned.jsonl"), "--probes", "personas",
                              "--n", "4", "--no-embeddings", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["verdicts"] and s["probes"]["personas"]["comparisons"]


def test_jsonl_with_other_prompt_ids_says_which_ids_and_how_to_export(tmp_path):
    for name in ("base", "tuned"):
        with (tmp_path / f"{name}.jsonl").open("w") as fh:
            for i in range(20):
                for _ in range(3):
                    fh.write(json.dumps({"prompt_id": f"p{i}", "text": "Ana is a nurse."}) + "\n")
    res = CliRunner().invoke(app, ["audit", "--backend", "jsonl",
                                   "--base", str(tmp_path / "base.jsonl"),
                                   "--tuned", str(tmp_path / "tuned.jsonl"),
                                   "--probes", "personas", "--n", "3", "--no-embeddings",
                                   "--out", str(tmp_path / "a")])
    said = " ".join(res.output.split())
    assert res.exit_code == 2
    assert "the personas probe asks its own" in said and "3 samples of each" in said
    assert "'p0'" in said and "--export-prompts" in said


def test_audit_without_models_or_export_is_a_clear_error():
    res = CliRunner().invoke(app, ["audit", "--probes", "personas"])
    assert res.exit_code == 2 and "give --base and --tuned" in " ".join(res.output.split())
