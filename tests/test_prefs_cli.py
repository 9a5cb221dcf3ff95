"""``rewardshift prefs`` end to end on the tiny base model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rewardshift.cli import app


def test_prefs_cli_end_to_end(small_base, grammar, tmp_path) -> None:
    path, _ = small_base
    rows = []
    for i, s in enumerate(grammar.sample(120, seed=5, kind="review")):
        t = grammar.sample(1, seed=1000 + i, kind="review")[0]
        if s.text != t.text:
            rows.append({"prompt": "Write a customer review:", "chosen": " " + s.text,
                         "rejected": " " + t.text})
    rows[0]["chosen"] = " <script>alert(1)</script> & more"
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["prefs", str(pairs), "--base", str(path), "--out", str(out)])
    assert res.exit_code == 2 and f"pairs.jsonl:{len(rows) + 1}" in res.output
    res = CliRunner().invoke(app, ["prefs", str(pairs), "--base", str(path), "--out", str(out),
                                   "--skip-bad"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["n_pairs"] == len(rows) and len(s["bad_rows"]) == 1
    assert s["alpha"]["value"] is not None
    html = (out / "report.html").read_text()
    assert "<script>alert" not in html
