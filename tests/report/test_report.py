"""Tests of the report layer: run directory, figures and the HTML report."""

from __future__ import annotations

import base64
import json
import math
import os
import re

import numpy as np
import pytest

import rewardshift.samples
from rewardshift import InputError, Sample
from rewardshift.report import (
    RunDir,
    distribution_figure,
    embedding_map_figure,
    figure_to_png,
    figure_to_svg,
    metric_comparison_figure,
    redact_secrets,
    render_report,
    summary_figures,
)
from rewardshift.report.html import fmt_p, fmt_relative, fmt_value, metric_rows

XSS = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metric(value, per_input, direction="higher_more_diverse", note=None):
    ci = None if value is None else [value - 0.05, value + 0.05]
    return {"value": value, "ci": ci, "per_input": per_input, "direction": direction,
            "n_units": 4, "note": note}


def make_summary(base="base", tuned="tuned", *, comparison=True):
    metrics = {
        "distinct_2": ("higher_more_diverse", True, 0.8, 0.5),
        "self_bleu_4": ("lower_more_diverse", True, 0.21, 0.63),
        "self_bleu_4_across": ("lower_more_diverse", False, 0.1, 0.15),
        "vendi_q1": ("higher_more_diverse", True, 3.0, None),
    }
    sources = {}
    for i, name in enumerate((base, tuned) if comparison else (base,)):
        sources[name] = {"n_samples": 8, "n_prompts": 2, "n_groups": 2, "metrics": {
            m: _metric(vals[i], pin, d, note=None if vals[i] is not None else "needs 2 samples")
            for m, (d, pin, *vals) in metrics.items()}}
    comp = None
    if comparison:
        comp = {"base": base, "tuned": tuned, "metrics": {
            m: {"base": b, "tuned": t, "change": t - b, "relative_change": (t - b) / b,
                "p_value": 0.001, "effect_size": 0.9, "effect_size_kind": "cliffs_delta",
                "per_input": pin, "direction": d, "verdict": "less diverse"}
            for m, (d, pin, b, t) in metrics.items() if t is not None}}
    dist_sources = {base: {"counts": {"French": 3, "Japanese": 5}, "entropy": 0.66, "support": 2}}
    if comparison:
        dist_sources[tuned] = {"counts": {"American": 8}, "entropy": 0.0, "support": 1}
    return {
        "rewardshift_version": "0.1.0", "tokenizer": "word", "embedding_model": None,
        "definitions": {"distinct_2": "unique bigrams / total bigrams; higher = more diverse",
                        "self_bleu_4": "mean BLEU-4 of each sample against the others"},
        "sources": sources, "comparison": comp,
        "distributions": {"nationality": {
            "sources": dist_sources,
            "comparison": ({"kl": 1.2, "js": 0.5, "chi2": 16.0, "chi2_p": 0.0001,
                            "coverage": 0.0} if comparison else None)}},
    }


# --------------------------------------------------------------------------- run directory


def test_create_default_name_and_refuses_file(tmp_path):
    run = RunDir.create(tmp_path)
    assert run.path.is_dir() and re.fullmatch(r"\d{8}-\d{6}(-\d+)?", run.path.name)
    assert RunDir.create(tmp_path).path != run.path  # same second: a fresh folder
    (tmp_path / "taken").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        RunDir.create(tmp_path, "taken")
    with pytest.raises(InputError, match="plain folder name"):
        RunDir.create(tmp_path, "../escape")
    assert RunDir.create(tmp_path, "again").path == RunDir.create(tmp_path, "again").path
    with pytest.raises(InputError, match="inside the run directory"):
        run.write_text("../outside.txt", "x")


def test_atomic_write_keeps_old_file_when_write_fails(tmp_path, monkeypatch):
    run = RunDir.create(tmp_path, "r")
    run.write_json("summary.json", {"a": 1})
    run.write_text("report.html", "old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(rewardshift.samples.os, "fsync", boom)  # fails after data is written
    with pytest.raises(OSError, match="disk full"):
        run.write_json("summary.json", {"a": 2, "b": list(range(1000))})
    with pytest.raises(OSError):
        run.write_text("report.html", "new")
    monkeypatch.undo()
    assert run.read_json("summary.json") == {"a": 1}
    assert (run.path / "report.html").read_text() == "old"
    assert sorted(p.name for p in run.path.iterdir()) == ["report.html", "summary.json"]


def test_write_json_nan_becomes_null(tmp_path):
    run = RunDir.create(tmp_path, "r")
    p = run.write_json("summary.json", {"v": float("nan"), "w": [np.float64("inf"), 1.5],
                                        "n": {"x": -math.inf, "k": np.int64(3)}})
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"n": {"k": 3, "x": None}, "v": None, "w": [None, 1.5]}
    with pytest.raises(InputError, match=r"\$\.bad"):
        run.write_json("other.json", {"bad": object()})


def test_config_redacts_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "envsecret-123456789")
    run = RunDir.create(tmp_path, "r")
    config = {
        "model": "gpt2", "tokenizer": "word", "max_new_tokens": 64, "eos_token": "</s>",
        "api_key": "plain", "openai": {"Authorization": "Bearer abc", "apiKey": "zzz"},
        "endpoint": "http://user:hunter2@localhost:8000/v1?token=qqq",
        "other": "sk-proj-abcdefghijklmnop", "hf": ["hf_AbCdEfGhIjKlMnOpQrSt"],
        "note": "uses envsecret-123456789 inside", "password": None,
    }
    run.write_config(config, seeds={"sampling": 7},
                     command=["rewardshift", "audit", "--api-key", "sk-live", "--token=abc123456"])
    text = (run.path / "config.json").read_text()
    for secret in ("plain", "abc", "zzz", "hunter2", "qqq", "sk-proj", "hf_AbC", "envsecret",
                   "sk-live", "abc123456"):
        assert secret not in text, secret
    cfg = json.loads(text)
    assert cfg["api_key"] == "***" and cfg["openai"] == {"Authorization": "***", "apiKey": "***"}
    assert cfg["note"] == "uses *** inside"
    assert cfg["model"] == "gpt2" and cfg["tokenizer"] == "word" and cfg["max_new_tokens"] == 64
    assert cfg["eos_token"] == "</s>" and cfg["password"] is None
    assert cfg["seeds"] == {"sampling": 7}
    assert cfg["versions"]["numpy"] == np.__version__ and cfg["versions"]["python"]
    assert "T" in cfg["created"] and "--api-key '***'" in cfg["command"]
    assert cfg["git"] is None or set(cfg["git"]) == {"commit", "dirty"}
    with pytest.raises(InputError, match="reserved"):
        run.write_config({"versions": 1})


def test_redact_secrets_leaves_plain_data_alone():
    data = {"temperature": 0.7, "keywords": ["a"], "prompts": ["tell me a story"]}
    assert redact_secrets(data, env=False) == data


def test_append_metrics_keeps_earlier_lines(tmp_path):
    run = RunDir.create(tmp_path, "r")
    assert run.append_metrics([{"step": 0, "loss": 1.0}, {"step": 1, "loss": float("nan")}]) == 2
    first = (run.path / "metrics.jsonl").read_bytes()
    run.append_metrics([{"step": 2, "eval": {"kl": 0.5}}])
    data = (run.path / "metrics.jsonl").read_bytes()
    assert data.startswith(first)
    assert run.read_metrics() == [{"loss": 1.0, "step": 0}, {"loss": None, "step": 1},
                                  {"eval.kl": 0.5, "step": 2}]
    with pytest.raises(InputError, match="flat"):  # a bad batch writes nothing
        run.append_metrics([{"step": 3}, {"step": 4, "losses": [1, 2]}])
    assert (run.path / "metrics.jsonl").read_bytes() == data
    with open(run.path / "metrics.jsonl", "ab") as fh:  # a crash mid-append
        fh.write(b'{"step": 9, "lo')
    assert len(run.read_metrics()) == 3
    run.append_metrics([{"step": 3}])
    assert (run.path / "metrics.jsonl").read_bytes() == data + b'{"step": 3}\n'


def test_write_samples_and_figure(tmp_path):
    run = RunDir.create(tmp_path, "r")
    n = run.write_samples([Sample(text="a b", prompt_id="p", source="base")])
    assert n == 1 and rewardshift.samples.read_samples(run.path / "samples.parquet")[0].text == "a b"
    paths = run.write_figure("dist", distribution_figure(make_summary()["distributions"]
                                                         ["nationality"], field="nationality"))
    assert [p.name for p in paths] == ["dist.png", "dist.svg"]
    assert paths[0].read_bytes().startswith(PNG_MAGIC)
    assert run.figure_path("x.png") == run.path / "figures" / "x.png"


# --------------------------------------------------------------------------- figures


def test_figures_render_png_and_svg():
    summary = make_summary()
    figs = summary_figures(summary)
    assert set(figs) == {"metrics", "distribution_nationality"}
    png = figure_to_png(figs["metrics"])
    assert png.startswith(PNG_MAGIC) and png == figure_to_png(figs["metrics"])  # deterministic
    svg = figure_to_svg(figs["distribution_nationality"])
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    titles = [ax.get_title() for ax in figs["metrics"].get_axes()]
    assert "self_bleu_4" in titles and titles.count("self_bleu_4") == 2  # per input + across
    labels = [ax.get_ylabel() for ax in figs["metrics"].get_axes() if ax.get_visible()]
    assert "↓ more diverse" in labels and "↑ more diverse" in labels


def test_single_source_figures_and_edge_cases():
    summary = make_summary(comparison=False)
    assert figure_to_png(metric_comparison_figure(summary)).startswith(PNG_MAGIC)
    assert figure_to_png(metric_comparison_figure({"sources": {}})).startswith(PNG_MAGIC)
    rng = np.random.default_rng(0)
    fig = embedding_map_figure(rng.normal(size=(20, 2)), ["a"] * 10 + ["b"] * 10)
    assert figure_to_png(fig).startswith(PNG_MAGIC)
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        embedding_map_figure(np.zeros((4, 3)), ["a"] * 4)
    with pytest.raises(InputError, match="one source per point"):
        embedding_map_figure(np.zeros((4, 2)), ["a"] * 3)


# --------------------------------------------------------------------------- HTML


def _report(summary=None, **kw):
    summary = summary or make_summary()
    figs = {"metrics": figure_to_png(metric_comparison_figure(summary))}
    kw.setdefault("samples_preview", {"base": ["one", "two"], "tuned": ["three"]})
    return render_report(summary, title="Demo", figures=figs, **kw)


def test_html_escapes_every_data_string():
    summary = make_summary(base=XSS, tuned="tuned")
    summary["definitions"][XSS] = XSS
    html = _report(summary, samples_preview={XSS: [XSS, "a & b"], "tuned": ["ok"]},
                   config={"model": XSS, XSS: 1})
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &amp; b" in html
    html2 = render_report(make_summary(), title=XSS, figures={}, samples_preview={})
    assert "<script" not in html2.lower()


def test_html_is_self_contained_with_embedded_png():
    html = _report(config={"model": "m", "api_key": "sk-abcdefghijklmnop"})
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|iframe|object|embed)\b", html, re.IGNORECASE)
    srcs = re.findall(r'src="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "sk-abcdefghijklmnop" not in html and "Content-Security-Policy" in html


def test_html_sections_and_verdicts():
    html = _report()
    assert "self_bleu_4 (per input): 0.21 → 0.63, less diverse, p = 0.001" in html
    assert "self_bleu_4 (across inputs): 0.1 → 0.15, less diverse" in html
    for section in ("Metrics", "Distributions", "Definitions", "Example samples"):
        assert f"<h2>{section}</h2>" in html
    assert "needs 2 samples" in html and "nationality" in html
    assert "+200%" in html  # relative change of self_bleu_4


def test_html_single_source_and_bad_figure():
    html = render_report(make_summary(comparison=False), title="one", figures={},
                         samples_preview={"base": ["x"]})
    assert "<h2>Metrics</h2>" in html and "<th>p-value</th>" not in html
    with pytest.raises(InputError, match="not PNG"):
        render_report(make_summary(), title="t", figures={"x": b"GIF89a"}, samples_preview={})


def test_formatting_and_order():
    assert fmt_value(None) == "—" and fmt_value(float("nan")) == "—" and fmt_value(0.21) == "0.21"
    assert fmt_p(0.0001) == "p < 0.001" and fmt_p(0.012) == "p = 0.012" and fmt_p(None) == "p n/a"
    assert fmt_relative(2.0) == "+200%" and fmt_relative(-0.0999) == "-10%"
    names = [n for n, *_ in metric_rows(make_summary())]
    assert names == ["distinct_2", "self_bleu_4", "vendi_q1", "self_bleu_4_across"]


def test_env_not_touched(tmp_path):
    before = dict(os.environ)
    RunDir.create(tmp_path, "r").write_config({})
    assert dict(os.environ) == before


def test_notes_are_shown_escaped():
    html = _report(notes=["truth: <b>7.5</b> nats"])
    assert "truth: &lt;b&gt;7.5&lt;/b&gt; nats" in html and "<b>7.5</b>" not in html


def test_render_document_escapes_and_refuses_raw_strings():
    from rewardshift.report.html import (
        SafeHTML,
        html_image,
        html_paragraph,
        html_table,
        render_document,
    )

    png = figure_to_png(metric_comparison_figure(make_summary()))
    page = render_document(XSS, [("One", [html_paragraph(XSS), html_table(["a", XSS], [[1.5, XSS]])]),
                                 ("Two", [html_image("fig", png, caption=XSS)]),
                                 ("Three", [])], config={"k": XSS})
    assert "<script" not in page.lower() and "data:image/png;base64," in page
    assert 'href="#s2"' in page  # a table of contents
    with pytest.raises(InputError):
        render_document("t", [("x", ["<b>raw</b>"])])
    with pytest.raises(InputError):
        html_image("x", b"GIF89a")
    assert isinstance(html_paragraph("x"), SafeHTML)
