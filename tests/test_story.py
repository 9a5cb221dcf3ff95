"""``rewardshift demo --story --small``: the four parts and one report that leads through them."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("trl")


def test_story_small_end_to_end(tmp_path) -> None:
    from typer.testing import CliRunner

    from rewardshift.cli import app

    out = tmp_path / "story"
    res = CliRunner().invoke(app, ["demo", "--story", "--small", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for part in ("measure", "lab", "lm", "audit"):
        assert (out / part / "summary.json").is_file(), part
        assert (out / part / "report.html").is_file(), part
    page = (out / "report.html").read_text()
    for title in ("1. Measuring a collapse", "2. The laboratory", "3. Real training with TRL",
                  "4. Auditing the pair"):
        assert title in page
    for link in ("measure/report.html", "lab/report.html", "lm/report.html",
                 "audit/report.html"):
        assert f'href="{link}"' in page
    story = json.loads((out / "story.json").read_text())
    parts = {"measure", "lab", "lm", "audit"}
    if importlib.util.find_spec("diffusers") and importlib.util.find_spec("skimage"):
        parts.add("images")
        assert "5. The image world" in page and (out / "images" / "summary.json").is_file()
    assert set(story["times"]) == parts
    again = CliRunner().invoke(app, ["demo", "--story", "--small", "--out", str(out)])
    assert again.exit_code == 2 and "already holds a story" in " ".join(again.output.split())
