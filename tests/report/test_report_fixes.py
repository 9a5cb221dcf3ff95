"""The report and summary fixes a reader found on a real measurement (issue 17, item 6)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardshift import Sample, write_samples
from rewardshift import measure as measure_mod
from rewardshift.cli import app, render_table
from rewardshift.measure import FAMILIES, VERDICTS, MeasureConfig, MeasureResult, measure
from rewardshift.metrics.stats import bounded_normal_ci, format_p, normal_ci
from rewardshift.report import measure_run
from rewardshift.report.html import render_report
from rewardshift.report.kit import _CSS, VERDICT_COLORS
from rewardshift.rundir import RunDir

WORDS = "red green blue amber teal ochre violet umber sage coral".split()
FAST = MeasureConfig(embeddings=False, n_resamples=100, n_bootstrap=200)


def _pair() -> list[Sample]:
    """Base: varied 8-word answers; tuned: one 4-word answer. Prompts p0-p2 of the base
    also have one-word answers, on which trigram metrics are undefined."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(36):
        pid = f"p{i % 12}"
        n = 1 if i % 12 < 3 else 8
        out.append(Sample(text=" ".join(rng.choice(WORDS, n)), prompt_id=pid,
                          prompt=f"Describe colour <{pid}>", source="base"))
        out.append(Sample(text="red green blue amber", prompt_id=pid,
                          prompt=f"Describe colour <{pid}>", source="tuned"))
    return out


@pytest.fixture(scope="module")
def measured() -> MeasureResult:
    return measure(_pair(), FAST, base="base", tuned="tuned")


def _html(summary, **kw) -> str:
    return render_report(summary, title="t", figures={}, **kw)


# 9 ---------------------------------------------------------------------------- n_units


def test_n_units_counts_only_prompts_with_a_defined_value(measured):
    m = measured.summary["sources"]["base"]["metrics"]
    assert m["distinct_1"]["n_units"] == 12
    assert m["distinct_3"]["n_units"] == 9  # p0-p2: one-word answers, no trigram


# 2 ---------------------------------------------------------------------------- across label


@pytest.mark.parametrize(("mode", "said", "not_said"), [
    ("one_per_prompt", "one sample per prompt", "all samples pooled"),
    ("pooled", "all samples pooled", "one sample per prompt")])
def test_across_heading_follows_the_across_mode(measured, mode, said, not_said):
    summary = {**measured.summary, "config": {**measured.summary["config"], "across_mode": mode}}
    html = _html(summary)
    assert said in html and not_said not in html


# 3 ---------------------------------------------------------------------------- map title


def test_embedding_map_title_says_it_is_a_subsample(measured, tmp_path, monkeypatch):
    assert "seeded subsample" not in measure_run.embedding_map_title(50, 50)
    titles = []
    from rewardshift.report import figures

    real = figures.embedding_map_figure

    def spy(coords, labels, **kw):
        titles.append(kw["title"])
        return real(coords[:10], labels[:10], **kw)

    monkeypatch.setattr(figures, "embedding_map_figure", spy)
    n = measure_run.MAX_MAP_POINTS + 5
    emb = np.random.default_rng(0).normal(size=(n, 3))
    result = MeasureResult(measured.summary, [], emb, ["base"] * n)
    run = RunDir.create(tmp_path, "r")
    measure_run.write_measure_report(run, result, _pair(), summary=measured.summary, config={})
    assert f"{measure_run.MAX_MAP_POINTS:,} of {n:,} samples shown (seeded subsample)" in titles[0]


# 4 ---------------------------------------------------------------------------- prompts


def test_examples_show_their_prompt_escaped_and_shortened(measured):
    preview = measure_run._preview(_pair(), seed=0)
    assert all(set(e) == {"prompt", "text"} and e["prompt"].startswith("Describe")
               for items in preview.values() for e in items)
    html = _html(measured.summary, samples_preview=preview)
    assert "Describe colour &lt;p" in html and "Describe colour <p" not in html
    long = _html(measured.summary, samples_preview={"base": [{"prompt": "q" * 5000,
                                                              "text": "answer"}]})
    assert "q" * 300 + "… [cut; 5,000 characters in all]" in long and "q" * 301 not in long
    assert "answer" in _html(measured.summary, samples_preview={"base": ["answer"]})


# 5 ---------------------------------------------------------------------------- p floor


def test_p_at_the_floor_reads_as_a_bound():
    assert format_p(1 / 101, prefix=False, n_resamples=100) == "< 0.01 (100 resamples)"
    assert format_p(1 / 101, n_resamples=100) == "p < 0.01 (100 resamples)"
    assert format_p(2 / 2001, prefix=False, n_resamples=2000, floor=2 / 2001) == \
        "< 0.001 (2,000 resamples)"
    assert format_p(2 / 101, prefix=False, n_resamples=100) == "0.02"  # one hit: an estimate
    assert format_p(1 / 101, prefix=False) == "0.010"  # without R: the number, as before


def test_comparison_entries_carry_their_resamples(measured):
    cfg = measured.summary["config"]
    comp = measured.summary["comparison"]["metrics"]
    across = comp["distinct_1_across"]
    assert across["n_resamples"] == cfg["n_resamples"]
    assert across["p_floor"] == pytest.approx(1 / (cfg["n_resamples"] + 1))
    per = comp["distinct_1"]  # 12 paired prompts: 4,096 sign flips > 200, Monte Carlo
    assert per["n_resamples"] == cfg["n_bootstrap"]
    assert per["p_floor"] == pytest.approx(2 / (cfg["n_bootstrap"] + 1))
    floor = {**measured.summary, "comparison": {**measured.summary["comparison"], "metrics": {
        "distinct_1_across": {**across, "p_value": 1 / 101, "n_resamples": 100,
                              "p_floor": 1 / 101}}}}
    assert "&lt; 0.01 (100 resamples)" in _html(floor)
    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(render_table(floor))
    assert "< 0.01 (100 resamples)" in console.export_text()


# 8 ---------------------------------------------------------------------------- source names


def _write(tmp_path, name, source):
    rng = np.random.default_rng(len(name))
    ss = [Sample(text=" ".join(rng.choice(WORDS, 6)), prompt_id=f"p{i % 6}", source=source)
          for i in range(18)]
    write_samples(ss, tmp_path / f"{name}.jsonl")
    return tmp_path / f"{name}.jsonl"


@pytest.mark.parametrize(("sources", "names", "origin"), [
    (("llama-base", "llama-dpo"), ("llama-base", "llama-dpo"), "samples"),
    (("model", "model"), ("a", "b"), "file names"),
    (("", ""), ("a", "b"), "file names")])
def test_compare_keeps_the_files_own_source_names(tmp_path, sources, names, origin):
    a, b = _write(tmp_path, "a", sources[0]), _write(tmp_path, "b", sources[1])
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["measure", str(a), "--compare", str(b), "--out", str(out),
                                   "--no-embeddings", "--resamples", "10",
                                   "--metrics", "distinct_1"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["sources"]) == list(names)
    assert summary["source_names"]["from"] == origin
    assert (summary["source_names"]["base"], summary["source_names"]["tuned"]) == names
    assert ("replaced" in summary["source_names"]) == (sources == ("model", "model"))


# 6 ---------------------------------------------------------------------------- bounded CI


def test_bounded_ci_stays_above_the_bound_and_holds_the_value():
    assert normal_ci(0.02, 0.03)[0] < 0
    lo, hi = bounded_normal_ci(0.02, 0.03)
    assert 0 < lo < 0.02 < hi
    assert bounded_normal_ci(1.05, 0.2, lower=1.0)[0] > 1.0
    assert bounded_normal_ci(0.0, 0.1)[0] == 0.0  # at the bound: clipped
    assert bounded_normal_ci(0.5, 0.1, lower=None) == normal_ci(0.5, 0.1)
    assert bounded_normal_ci(0.5, None) is None
    # small SE: the log-scale interval is close to the normal one
    assert bounded_normal_ci(5.0, 0.01) == pytest.approx(normal_ci(5.0, 0.01), rel=1e-4)


def test_every_metric_ci_stays_within_its_lower_bound(measured):
    for fam in FAMILIES:
        for m in fam.metrics:
            lo, _ = fam.normal_ci(m, fam.lower_bound(m) + 1e-3, 1.0, 0.95)
            assert lo >= fam.lower_bound(m), m
    bounds = {m: fam.lower_bound(m) for fam in FAMILIES for m in fam.metrics}
    for block in measured.summary["sources"].values():
        for name, e in block["metrics"].items():
            if e["ci"]:
                assert e["ci"][0] >= bounds[name.removesuffix("_across")], name
    assert "log scale" in measured.summary["definitions"]["confidence interval"]


# 7 ---------------------------------------------------------------------------- practical


def test_a_tiny_significant_change_is_no_practical_change():
    entry = measure_mod._comparison_entry
    tiny = entry(0.5, 0.5016, 0.001, None, "z", False, "higher_more_diverse", n_resamples=100)
    assert tiny["verdict"] == "no practical change" and tiny["practical"] is False
    big = entry(0.5, 0.45, 0.001, None, "z", False, "higher_more_diverse", n_resamples=100)
    assert big["verdict"] == "less diverse" and big["practical"] is True
    small_d = entry(0.5, 0.52, 0.01, 0.1, "cohen_dz", True, "higher_more_diverse",
                    n_resamples=200)
    assert small_d["verdict"] == "no practical change"
    assert small_d["min_effect"] == {"effect_size": measure_mod.MIN_EFFECT_D}
    ns = entry(0.5, 0.3, 0.2, 2.0, "cohen_d", True, "higher_more_diverse", n_resamples=200)
    assert ns["verdict"] == "no significant change"


def test_verdict_vocabulary_is_one_everywhere(measured):
    assert set(VERDICT_COLORS) == set(VERDICTS)
    assert "minimal effect" in measured.summary["definitions"]["verdict"]
    comp = measured.summary["comparison"]
    cm = {f"m{i}_across": {**comp["metrics"]["distinct_1_across"], "verdict": v}
          for i, v in enumerate(VERDICTS)}
    summary = {**measured.summary, "comparison": {**comp, "metrics": cm}, "sources": {
        s: {**b, "metrics": {k: b["metrics"]["distinct_1_across"] for k in cm}}
        for s, b in measured.summary["sources"].items()}}
    html = _html(summary)
    for v in VERDICTS:
        assert f">{v}</span>" in html
    assert 'class="badge b-small">no practical change' in html
    assert "significant but below the minimal effect on 1" in html
    table = render_table(summary)
    cells = [str(c) for col in table.columns for c in col._cells]
    assert "[yellow]no practical change[/]" in cells


# 1 ---------------------------------------------------------------------------- wide table


def test_wide_table_scrolls_without_clipping_the_verdict(measured):
    html = _html(measured.summary)
    table = re.search(r'<div class="tablewrap"><table>(.*?)</table></div>', html, re.S)
    assert table, "the metrics table sits in a scrolling wrapper"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    assert rows
    for row in rows:  # the verdict is the last cell of every row
        last = re.findall(r"<t[hd][^>]*>", row)[-1]
        assert "verdict" in last, row
    css = re.sub(r"\s+", " ", _CSS)
    wrap = re.search(r"\.tablewrap \{([^}]*)\}", css).group(1)
    assert "overflow-x: auto" in wrap and "hidden" not in wrap
    assert "overflow: hidden" not in css and "overflow-y: hidden" not in css
    badge = re.search(r"\.badge \{([^}]*)\}", css).group(1)
    assert "white-space: nowrap" in badge
    sticky = re.search(r"th\.verdict, td\.verdict \{([^}]*)\}", css).group(1)
    assert "position: sticky" in sticky and "right: 0" in sticky
    assert "table-layout: auto" in css
