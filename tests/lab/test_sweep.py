"""Sweeps: grid expansion, executors, resume after interruption, failures recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewardshift import InputError, Sample, write_samples
from rewardshift.jobs.sweep import SweepConfig, expand_grid, load_sweep, run_sweep

WORDS = "oak elm ash yew fir pine birch alder rowan hazel".split()


@pytest.fixture
def sample_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "s.jsonl"
    write_samples([Sample(text=" ".join(rng.choice(WORDS, 6)), prompt_id=f"p{i % 3}")
                   for i in range(12)], path)
    return path


def _cfg(sample_file, **grid):
    return SweepConfig(name="sw", job="measure",
                       fixed={"samples": str(sample_file), "embeddings": False,
                              "n_resamples": 10, "n_bootstrap": 50},
                       grid=grid or {"seed": [0, 1], "max_pairwise": [5, 50]})


def test_expand_grid_is_cartesian_and_stable(sample_file):
    specs = expand_grid(_cfg(sample_file))
    assert [s.key for s in specs] == ["max_pairwise=5,seed=0", "max_pairwise=5,seed=1",
                                      "max_pairwise=50,seed=0", "max_pairwise=50,seed=1"]
    assert specs[1].config["seed"] == 1 and specs[1].config["embeddings"] is False


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_run_and_resume(tmp_path, sample_file, executor):
    cfg = _cfg(sample_file)
    res = run_sweep(cfg, tmp_path / "out", executor=executor, max_workers=2)
    assert len(res.finished) == 4 and not res.failed and not res.skipped
    root = tmp_path / "out" / "sw"
    lines = (root / "sweep.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["config"]["seed"] == 0
    # an interrupted sweep: one run lost its summary; only that one runs again
    (root / "max_pairwise=5,seed=1" / "summary.json").unlink()
    before = (root / "max_pairwise=5,seed=0" / "summary.json").read_bytes()
    again = run_sweep(cfg, tmp_path / "out", executor=executor, max_workers=2)
    assert again.finished == ["max_pairwise=5,seed=1"] and len(again.skipped) == 3
    assert (root / "max_pairwise=5,seed=0" / "summary.json").read_bytes() == before


def test_seeds_give_reproducible_runs(tmp_path, sample_file):
    run_sweep(_cfg(sample_file, seed=[3]), tmp_path / "a")
    run_sweep(_cfg(sample_file, seed=[3]), tmp_path / "b")
    a = json.loads((tmp_path / "a/sw/seed=3/summary.json").read_text())
    b = json.loads((tmp_path / "b/sw/seed=3/summary.json").read_text())
    assert a["sources"] == b["sources"]


def test_failed_run_is_recorded_and_sweep_goes_on(tmp_path, sample_file):
    cfg = _cfg(sample_file, across_mode=["pooled", "no-such-mode"])
    res = run_sweep(cfg, tmp_path / "out")
    assert res.finished == ["across_mode=pooled"]
    assert "across_mode" in res.failed["across_mode=no-such-mode"]
    assert (tmp_path / "out/sw/across_mode=no-such-mode/error.txt").exists()


def test_load_sweep_validates(tmp_path):
    good = tmp_path / "ok.toml"
    good.write_text('name = "x"\njob = "measure"\n[fixed]\nseed = 1\n[grid]\nn_resamples = [10, 20]\n')
    assert load_sweep(good).grid == {"n_resamples": [10, 20]}
    for text, words in [('name = "x"\n[grid]\nseed = 1\n', "non-empty list"),
                        ('job = "lab"\n', "missing 'name'"),
                        ('name = "x"\nbogus = 1\n', "unknown top-level"),
                        ('name = "x"\njob = "nope"\n', "unknown"),
                        ("name = [\n", "malformed TOML"),
                        ('name = "x"\n[fixed]\nseed = 1\n[grid]\nseed = [1]\n', "both")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(InputError, match=words):
            load_sweep(bad)


def test_unknown_executor(tmp_path, sample_file):
    with pytest.raises(InputError, match="executor"):
        run_sweep(_cfg(sample_file), tmp_path, executor="threads")


@pytest.mark.slow
def test_ray_executor(tmp_path, sample_file):
    pytest.importorskip("ray")
    res = run_sweep(_cfg(sample_file, seed=[0, 1]), tmp_path / "out", executor="ray")
    assert sorted(res.finished) == ["seed=0", "seed=1"]


def test_cli_lab_sweep(tmp_path, sample_file):
    from typer.testing import CliRunner

    from rewardshift.cli import app

    toml = tmp_path / "sweep.toml"
    toml.write_text(f'name = "cli"\njob = "measure"\n[fixed]\nsamples = "{sample_file}"\n'
                    'embeddings = false\nn_resamples = 10\n[grid]\nseed = [0, 1]\n')
    res = CliRunner().invoke(app, ["lab", "sweep", str(toml), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "2 finished" in res.output
    res = CliRunner().invoke(app, ["lab", "sweep", str(toml), "--out", str(tmp_path / "o")])
    assert "0 finished, 2 already done" in res.output


@pytest.mark.slow
@pytest.mark.ray
def test_three_executors_give_identical_summaries(tmp_path, sample_file):
    """serial, process and Ray: the same seeds give the same numbers (timings aside)."""
    import json

    pytest.importorskip("ray")

    def summaries(executor):
        out = tmp_path / executor
        res = run_sweep(_cfg(sample_file, seed=[0, 1]), out, executor=executor)
        assert sorted(res.finished) == ["seed=0", "seed=1"]
        found = sorted(out.rglob("summary.json"))
        assert len(found) == 2 and not list(out.rglob(".partial/*/summary.json"))
        return [_no_timings(json.loads(p.read_text())) for p in found]

    serial = summaries("serial")
    assert serial[0]["sources"]  # real numbers, not an empty shell
    assert summaries("process") == serial
    assert summaries("ray") == serial


def _no_timings(d):
    if isinstance(d, dict):
        return {k: _no_timings(v) for k, v in d.items()
                if not any(t in k for t in ("seconds", "timing", "_s", "memory", "rss"))}
    if isinstance(d, list):
        return [_no_timings(v) for v in d]
    return d
