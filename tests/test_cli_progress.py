"""Progress without a terminal: plain lines, and a heartbeat so silence never lasts long."""

from __future__ import annotations

import time

from rewardshift import cli


def test_plain_progress_prints_stages_and_a_heartbeat(capsys, monkeypatch):
    monkeypatch.setattr(cli, "console", cli.Console(stderr=True, force_terminal=False,
                                                    width=200))
    with cli._plain_progress(0.2) as update:
        update("pretrain", 0, 3)
        update("pretrain", 1, 3)  # same stage, not finished, too soon: no line
        time.sleep(0.6)  # a long step with no callback: the heartbeat speaks
        update("pretrain", 3, 3)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "pretrain 0/3" in lines[0]
    assert not any("pretrain 1/3" in line and "still" not in line for line in lines)
    assert any("still working: pretrain 1/3" in line for line in lines)
    assert "pretrain 3/3" in lines[-1]
    assert all(line.startswith("[00:0") for line in lines)


def test_progress_is_plain_without_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(cli, "console", cli.Console(stderr=True, force_terminal=False))
    with cli._progress() as update:
        update("measure: lexical", 1, 2)
    assert "measure: lexical 1/2" in capsys.readouterr().err
