"""``rewardshift measure FOLDER --compare FOLDER``: measures with CIs, bad files, --skip-bad."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("skimage")
Image = pytest.importorskip("PIL.Image")

from rewardshift import InputError  # noqa: E402
from rewardshift.cli import app  # noqa: E402
from rewardshift.images import render, sample_scenes  # noqa: E402
from rewardshift.images.folder import read_image_folder  # noqa: E402

runner = CliRunner()


def _folder(path, seed, n=10):
    path.mkdir()
    for i, img in enumerate(render(sample_scenes(n, seed=seed), size=32)):
        Image.fromarray(img).save(path / f"img{i:03d}.png")
    return path


@pytest.fixture
def folders(tmp_path):
    return _folder(tmp_path / "base_images", 0), _folder(tmp_path / "tuned_images", 1)


def _bad(folder, kind):
    if kind == "corrupt":
        (folder / "zz_bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    elif kind == "tiny":
        Image.new("RGB", (1, 1)).save(folder / "zz_bad.png")
    elif kind == "gray":
        Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(folder / "zz_bad.png")
    else:
        (folder / "zz_bad.txt").write_text("hello")
    return next(folder.glob("zz_bad.*"))


def test_measure_folders_writes_run_with_cis(folders, tmp_path):
    base, tuned = folders
    out = tmp_path / "run"
    res = runner.invoke(app, ["measure", str(base), "--compare", str(tuned), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "vendi_q1" in res.output and "frechet_distance" in res.output
    for name in ("config.json", "metrics.jsonl", "summary.json", "report.html",
                 "figures/grid.png"):
        assert (out / name).exists(), name
    s = json.loads((out / "summary.json").read_text())
    assert set(s["sets"]) == {"base_images", "tuned_images"}
    for st in s["sets"].values():
        assert st["n_images"] == 10
        for m in ("fragment_count", "contrast", "centredness", "vendi_q1",
                  "mean_pairwise_distance"):
            e = st["measures"][m]
            assert e["ci"] is not None and e["ci"][0] <= e["value"] <= e["ci"][1], m
    comp = s["comparison"]
    assert comp["base"] == "base_images" and comp["tuned"] == "tuned_images"
    assert set(comp["measures"]) == set(s["sets"]["base_images"]["measures"])
    for c in comp["measures"].values():
        assert {"change", "p_value", "verdict"} <= set(c)
    for m in ("frechet_distance", "precision", "recall"):
        assert comp["between"][m]["ci"] is not None, m
    assert "<table" in (out / "report.html").read_text()


@pytest.mark.parametrize("kind", ["corrupt", "tiny", "gray", "text"])
def test_bad_file_is_named_and_skip_bad_skips_it(folders, tmp_path, kind):
    base, tuned = folders
    bad = _bad(tuned, kind)
    res = runner.invoke(app, ["measure", str(base), "--compare", str(tuned),
                              "--out", str(tmp_path / "r1")])
    assert res.exit_code == 2, res.output
    flat = res.output.replace("\n", "")
    assert f"{bad.name}:" in flat and "error" in flat
    with pytest.raises(InputError, match="zz_bad"):
        read_image_folder(tuned)
    res = runner.invoke(app, ["measure", str(base), "--compare", str(tuned), "--skip-bad",
                              "--out", str(tmp_path / "r2")])
    assert res.exit_code == 0, res.output
    flat = res.output.replace("\n", "")
    assert "skipped" in flat and bad.name in flat
    s = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert s["sets"]["tuned_images"]["n_images"] == 10
    assert [p for p, _ in s["skipped_files"]] == [str(bad)]


def test_read_folder_messages(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no usable images"):
        read_image_folder(tmp_path / "empty")
    d = tmp_path / "mixed"
    d.mkdir()
    Image.new("RGB", (8, 8)).save(d / "a.png")
    Image.new("RGB", (16, 16)).save(d / "b.png")
    with pytest.raises(InputError, match=r"b\.png.*one size"):
        read_image_folder(d)
    assert read_image_folder(d, size=8).images.shape == (2, 8, 8, 3)
    gray = tmp_path / "gray"
    gray.mkdir()
    Image.new("L", (8, 8)).save(gray / "g.png")
    with pytest.raises(InputError, match="convert it to RGB"):
        read_image_folder(gray)


def test_measure_folders_deterministic(folders, tmp_path):
    base, tuned = folders
    outs = []
    for name in ("a", "b"):
        res = runner.invoke(app, ["measure", str(base), "--compare", str(tuned), "--seed", "3",
                                  "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        s = json.loads((tmp_path / name / "summary.json").read_text())
        s.pop("folders")
        outs.append(s)
    assert outs[0] == outs[1]


def test_skip_bad_on_sample_file_is_clear(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"text": "a b c", "prompt_id": "p"}\n')
    res = runner.invoke(app, ["measure", str(f), "--skip-bad"])
    assert res.exit_code == 2 and "folders of images" in res.output


# --------------------------------------------------------------------------- image sample files


def _image_jsonl(folder, path, *, data_uri=False):
    """A sample file whose records point at (or embed) the images of ``folder``."""
    import base64

    rows = []
    for f in sorted(folder.glob("*.png")):
        img = (f"data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}"
               if data_uri else str(f.relative_to(path.parent)))
        rows.append(json.dumps({"image": img, "source": folder.name, "prompt_id": f.stem}))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_sample_file_of_images_measures_like_the_folder(folders, tmp_path):
    from rewardshift.images.folder import read_image_samples
    from rewardshift.samples import read_samples

    base, tuned = folders
    a = _image_jsonl(base, tmp_path / "base.jsonl")
    b = _image_jsonl(tuned, tmp_path / "tuned.jsonl", data_uri=True)
    assert read_samples(a)[0].image == "base_images/img000.png"
    assert read_samples(a)[0].text == ""
    np.testing.assert_array_equal(read_image_samples(a).images, read_image_folder(base).images)
    np.testing.assert_array_equal(read_image_samples(b).images, read_image_folder(tuned).images)
    out_f, out_s = tmp_path / "run_f", tmp_path / "run_s"
    for args, out in (([str(base), "--compare", str(tuned)], out_f),
                      ([str(a), "--compare", str(b)], out_s)):
        res = runner.invoke(app, ["measure", *args, "--out", str(out)])
        assert res.exit_code == 0, res.output
    sf = json.loads((out_f / "summary.json").read_text())
    ss = json.loads((out_s / "summary.json").read_text())
    assert set(ss["sets"]) == {"base", "tuned"}
    assert ss["sets"]["base"] == sf["sets"]["base_images"]
    assert ss["sets"]["tuned"] == sf["sets"]["tuned_images"]


def test_sample_file_of_images_names_the_bad_record(folders, tmp_path):
    from rewardshift.images.folder import read_image_samples

    base, _ = folders
    path = _image_jsonl(base, tmp_path / "s.jsonl")
    lines = path.read_text().splitlines()
    (tmp_path / "gray.png").write_bytes(b"")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(tmp_path / "gray.png")
    for bad, match in ((json.dumps({"image": "nope.png"}), "record 3: field 'image'.*does not"),
                       (json.dumps({"text": "hi"}), "record 3: field 'image': this sample"),
                       (json.dumps({"image": "data:image/png;base64,@@"}), "record 3.*base64"),
                       (json.dumps({"image": "gray.png"}), "record 3: .*grayscale")):
        path.write_text("\n".join([*lines[:2], bad, *lines[2:]]) + "\n")
        with pytest.raises(InputError, match=match):
            read_image_samples(path)
        kept = read_image_samples(path, skip_bad=True)
        assert len(kept.images) == 10 and kept.bad[0][0].endswith("record 3")
    with pytest.raises(InputError, match=r"e.jsonl:1: field .image."):
        (tmp_path / "e.jsonl").write_text(json.dumps({"image": ""}) + "\n")
        read_image_samples(tmp_path / "e.jsonl")
