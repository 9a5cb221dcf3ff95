"""Jobs compose: the finished-run guard, progress, deprecated names and the CLI's flags."""

from __future__ import annotations

import importlib
import json

import pytest

from rewardshift._exceptions import InputError
from rewardshift.jobs import RunExistsError, claim_run_dir
from rewardshift.progress import StageClock


def test_claim_run_dir_refuses_a_finished_run(tmp_path):
    rd = claim_run_dir(tmp_path / "run", "finished audit")
    rd.write_json("summary.json", {"done": True})
    with pytest.raises(RunExistsError, match="already holds a finished audit"):
        claim_run_dir(tmp_path / "run", "finished audit")
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"done": True}


def test_claim_run_dir_empty_refuses_partial_outputs(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint").write_text("half")
    with pytest.raises(RunExistsError, match="not an empty directory"):
        claim_run_dir(tmp_path / "run", "lm run", empty=True)
    assert claim_run_dir(tmp_path / "run", "lm run").path == tmp_path / "run"  # may reopen
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunExistsError, match="not a directory"):
        claim_run_dir(tmp_path / "file", "lm run")


def test_story_guard_uses_its_own_marker(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "summary.json").write_text("{}")
    claim_run_dir(tmp_path / "s", "story", marker="report.html")  # a summary is not a story
    (tmp_path / "s" / "report.html").write_text("<html>")
    with pytest.raises(RunExistsError, match=r"story \(report.html\)"):
        claim_run_dir(tmp_path / "s", "story", marker="report.html")


def test_stage_clock_reports_each_stage():
    seen = []
    clock = StageClock(["a", "b", "c"], lambda *a: seen.append(a), prefix="job")
    clock.done("a")
    clock.done("b", reused=True)
    assert seen == [("job: a", 1, 3), ("job: b (reused)", 2, 3)]
    assert clock.times["b"] == 0.0 and clock.times["a"] >= 0.0
    with pytest.raises(ValueError):
        clock.done("nope")


@pytest.mark.parametrize(("old", "name", "new"), [
    ("rewardshift.lab.sweep", "run_sweep", "rewardshift.jobs.sweep"),
    ("rewardshift.lab.sweep", "measure_job", "rewardshift.jobs.measure"),
    ("rewardshift.lab.run", "lab_job", "rewardshift.jobs.lab"),
    ("rewardshift.report.measure_run", "write_measure_run", "rewardshift.jobs.measure"),
    ("rewardshift.report.lab_run", "write_lab_run", "rewardshift.jobs.lab"),
    ("rewardshift.prefs", "write_prefs_run", "rewardshift.jobs.prefs"),
    ("rewardshift.story", "run_story", "rewardshift.jobs.story"),
])
def test_moved_names_still_work_with_a_warning(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"moved to {new}"):
        got = getattr(module, name)
    assert got is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_library_errors_name_fields_and_the_cli_names_flags():
    from rewardshift.audit import AuditConfig
    from rewardshift.cli import error_text

    with pytest.raises(InputError) as err:
        AuditConfig(base="a", tuned="b", backend="openai")
    assert "--" not in str(err.value) and err.value.option == "base_url"
    assert error_text(err.value).endswith("[option --base-url]")
    assert error_text(InputError("plain")) == "plain"
