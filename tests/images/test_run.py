"""``lab run images`` end to end at a tiny size: the run directory, resuming, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("skimage")

from rewardshift.images.run import ImagesConfig  # noqa: E402
from rewardshift.jobs.base import RunExistsError  # noqa: E402
from rewardshift.jobs.images import images_job  # noqa: E402

TINY = ImagesConfig.tiny()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import torch

    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("images") / "run"
    return out, images_job(TINY, out)


def test_the_run_directory_holds_everything(tiny_run):
    from diffusers import UNet2DModel

    out, result = tiny_run
    s = json.loads((out / "summary.json").read_text())
    assert s["world"] == "images" and s["reported"] == "ddpo-1"
    assert {r["policy"] for r in result.records} == {"base", "ddpo-1", "dpo-1000", "bon-1",
                                                     "bon-4"}
    for key in ("bias_shift", "bias_contrast", "edge_cases", "iconic_mean", "hacking"):
        assert key in s
    kinds = {r["axis"]: r["kind"] for r in s["bias_shift"]}
    assert kinds["symmetry"] == "perceptual" and kinds["progress"] == "physical"
    lo, hi = s["bias_contrast"]["contrast"]["ci"]
    assert lo <= s["bias_contrast"]["contrast"]["value"] <= hi
    assert s["reward_model"]["noise_ceiling"] >= 0.5
    html = (out / "report.html").read_text()
    assert "Per-axis shift" in html and "data:image/png;base64," in html
    assert (out / "samples" / "index.parquet").is_file()
    assert len(list((out / "samples" / "base").glob("*.png"))) == TINY.n_eval
    for folder in (out / "base" / "unet", out / "tuned" / "ddpo-1" / "unet",
                   out / "tuned" / "dpo-1000" / "unet"):
        assert isinstance(UNet2DModel.from_pretrained(folder), UNet2DModel)
    assert (out / "metrics.jsonl").read_text().count("\n") == len(result.records)


def test_same_folder_resumes_and_another_config_is_refused(tiny_run):
    out, first = tiny_run
    (out / "summary.json").unlink()  # as if interrupted after the evaluation
    again = images_job(TINY, out)
    reused = [k for k, v in again.summary["timings"].items() if v == 0.0]
    assert {"renders", "regressor", "base", "likes", "reward model"} <= set(reused)
    for name in first.samples:
        assert np.array_equal(first.samples[name], again.samples[name]), name
    (out / "summary.json").unlink()
    with pytest.raises(RunExistsError, match="another configuration"):
        images_job(TINY.from_dict({**TINY.to_dict(), "seed": 1}), out)


def test_hacking_needs_both_moves_beyond_noise():
    from rewardshift.images.run import _hacking

    def rec(policy, proxy, gold, se=0.1):
        return {"policy": policy, "proxy": proxy, "gold": gold, "proxy_se": se, "gold_se": se}

    records = [rec("base", 0.0, 1.0), rec("noise", 0.1, 0.9), rec("hacked", 1.0, 0.0),
               rec("honest", 1.0, 1.5)]
    assert _hacking(records)["policies"] == ["hacked"]


def test_gold_reader_flags_images_that_left_the_renders(tiny_run):
    """Noise and flat frames are out of distribution for the gold reader; renders are not."""
    from rewardshift.images.cnn import ImageRegressor
    from rewardshift.images.run import _load_npz, _outside
    from rewardshift.metrics.images import pixel_features

    out, _ = tiny_run
    reg = ImageRegressor.load(out / "regressor")
    renders = _load_npz(out / "data" / "renders.npz")["images"]
    truth, train = renders[TINY.n_train:], renders[:40]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    flat = np.broadcast_to(np.array([20, 40, 230], np.uint8), (40, 32, 32, 3)).copy()

    def share(x):
        return _outside(reg.features(truth), pixel_features(truth), reg.features(x),
                        pixel_features(x), seed=0).mean()

    assert share(train) <= 0.1
    assert share(noise) >= 0.8 and share(flat) == 1.0  # tiny: 50 renders fit 192 pixels


def test_verdict_says_when_the_tuned_images_are_out_of_distribution():
    from rewardshift.images.run import _verdict

    c = {"contrast": {"value": 1.0, "ci": [0.5, 1.5]}, "holds": False}
    assert "left the renders' distribution" in _verdict(c, "ddpo-4", 0.9)
    assert "No perceptual-over-physical" in _verdict(c, "ddpo-4", 0.1)


def test_run_samples_are_sample_records_that_measure_reads(tiny_run, tmp_path):
    """Images enter the common sample record: measure works on the run's own sample files."""
    from typer.testing import CliRunner

    from rewardshift.cli import app
    from rewardshift.samples import read_samples

    out, result = tiny_run
    recs = read_samples(out / "samples" / "base.jsonl")
    assert len(recs) == TINY.n_eval and recs[0].image == "base/0000.png"
    res = CliRunner().invoke(app, ["measure", str(out / "samples" / "base.jsonl"), "--compare",
                                   str(out / "samples" / "ddpo-1.jsonl"), "--out",
                                   str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert s["sets"]["base"]["n_images"] == TINY.n_eval
