"""Fixtures shared across test folders: the tiny-LM world's grammar, one small pretrained base
and one small pipeline run (used by tests/lm, tests/realpair and the audit / prefs CLI tests).

The base and the run need the ``lm`` extra; a test that asks for them skips without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: What ``small_base`` and ``small_run`` import (the ``lm`` extra), checked before either is built.
LM_EXTRA = ("torch", "transformers", "tokenizers", "accelerate", "trl")


def needs_lm_extra() -> None:
    """Skip the calling test unless the ``lm`` extra is installed."""
    for name in LM_EXTRA:
        pytest.importorskip(name)


@pytest.fixture(scope="session")
def grammar():
    from rewardshift.lm.grammar import TextGrammar

    return TextGrammar()


@pytest.fixture(scope="session")
def small_base(tmp_path_factory, grammar):
    """A tiny GPT-2 pretrained for a few seconds: ``(path, PretrainResult)``."""
    needs_lm_extra()
    from rewardshift.lm.pretrain import PretrainConfig, pretrain

    path = tmp_path_factory.mktemp("base")
    cfg = PretrainConfig(n_layer=2, n_head=2, n_embd=64, n_train=8000, n_heldout=300,
                         epochs=1.0, batch_size=64, learning_rate=3e-3, seed=0)
    return path, pretrain(path, cfg, grammar=grammar, progress=False)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """``rewardshift lm run --small`` end to end, through the CLI: ``(dir, summary)``."""
    needs_lm_extra()
    from typer.testing import CliRunner

    from rewardshift.cli import app

    out = tmp_path_factory.mktemp("lm") / "run"
    res = CliRunner().invoke(app, ["lm", "run", "--small", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return Path(out), json.loads((Path(out) / "summary.json").read_text())
