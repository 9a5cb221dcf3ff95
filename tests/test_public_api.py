"""The public namespaces: sorted ``__all__``, every name importable (cf. httpx)."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["rewardshift", "rewardshift.samples", "rewardshift.measure", "rewardshift.demo",
           "rewardshift.metrics.lexical", "rewardshift.metrics.semantic",
           "rewardshift.metrics.tokens", "rewardshift.metrics.distribution",
           "rewardshift.metrics.aggregate", "rewardshift.metrics.embed",
           "rewardshift.metrics.tokenize", "rewardshift.metrics.counts",
           "rewardshift.lm.grammar", "rewardshift.lm.tokenizer", "rewardshift.lm.scoring",
           "rewardshift.lm.sampling", "rewardshift.lm.pretrain", "rewardshift.lm.preferences",
           "rewardshift.lm.reward", "rewardshift.lm.tune", "rewardshift.lm.evaluate",
           "rewardshift.lm.monitoring", "rewardshift.lm.run", "rewardshift.monitor",
           "rewardshift.monitor.trl", "rewardshift.monitor.config", "rewardshift.monitor.training",
           "rewardshift.monitor.rewards", "rewardshift.monitor.callbacks", "rewardshift.generate",
           "rewardshift.generate.sampling", "rewardshift.generate.scoring", "rewardshift.probes",
           "rewardshift.audit"]

#: Modules whose public names need an extra (the lm extra's transformers) to import.
NEEDS = {"rewardshift.monitor": "transformers", "rewardshift.monitor.trl": "transformers",
         "rewardshift.monitor.callbacks": "transformers"}


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_importable(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    mod = importlib.import_module(name)
    assert list(mod.__all__) == sorted(mod.__all__), f"{name}.__all__ is not sorted"
    for attr in mod.__all__:
        assert hasattr(mod, attr), f"{name}.{attr}"


def test_core_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, rewardshift, rewardshift.measure, rewardshift.metrics.lexical; "
            "print(any(m in sys.modules for m in ('torch', 'sentence_transformers', "
            "'transformers', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
