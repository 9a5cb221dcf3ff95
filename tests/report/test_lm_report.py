"""Tests of the lm run's report: sections, escaping, figures, missing optional keys.

Everything runs on a synthetic summary and metrics.jsonl built here; no model is trained.
"""

from __future__ import annotations

import json
import math

import pytest

from rewardshift import InputError
from rewardshift.report.figures import figure_to_png
from rewardshift.report.lm_figures import (
    attribute_figure,
    overoptimization_figure,
    training_curves_figure,
)
from rewardshift.report.lm_run import write_lm_report
from rewardshift.rundir import RunDir

XSS = "<script>alert(1)</script>"
AMP = "Fish & Chips"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("Summary", "Training curves", "Over-optimisation",
            "Samples: base and tuned side by side",
            "Reward hacking: what the proxy likes and the gold rejects", "Attribute histograms",
            "Base model and reward model", "Timings", "Configuration")
FIGURES = ("training_curves", "overoptimization", "diversity_kl", "attributes_review")


def _checkpoint(run: str, step: int, t: float) -> dict:
    """A measured checkpoint at training progress ``t`` in [0, 1]: the proxy rises, the gold
    peaks at t = 0.5, the text leaves the grammar and loses diversity."""
    in_grammar = max(0.0, 1.0 - t)
    row = {"run": run, "phase": "checkpoint", "step": step, "proxy": -1 + 3 * t,
           "gold": 1 + 2 * t - 3 * t * t, "in_grammar": in_grammar, "terminated": 1.0,
           "kl": 20 * t * t, "kl_se": 0.5, "sqrt_kl": math.sqrt(20) * t,
           "within_distinct_2": 0.9 - 0.5 * t, "within_self_bleu_4": 0.1 + 0.5 * t,
           "across_distinct_2": 0.95 - 0.3 * t, "across_self_bleu_4": 0.05 + 0.3 * t,
           "repetition_rate": t / 2, "mean_length": 20 + 10 * t}
    if in_grammar > 0:  # only defined when something is in the grammar
        row |= {"plausibility": -12.0 - t, "js_review_stars": 0.01 + t / 10,
                f"js_review_{XSS}": 0.02 + t / 10}
    return row


def _metrics(runs: dict[str, int]) -> list[dict]:
    rows = []
    for run, steps in runs.items():
        for s in range(1, steps + 1):
            rows.append({"run": run, "phase": "train", "step": s, "reward": -1 + 3 * s / steps,
                         "kl": 0.01 * s, "rewards/proxy_rm/mean": -1 + 3 * s / steps,
                         "monitor/gold_mean": 1 - s / steps,
                         "monitor/within_distinct_2": 0.9 - 0.4 * s / steps,
                         "monitor/alarm": 1.0 if (run == "grpo-weak-kl" and s == 6) else 0.0})
        rows += [_checkpoint(run, s, s / steps) for s in range(0, steps + 1, 2)]
    for n in (1, 2, 4, 8, 16):
        kl = math.log(n) - (n - 1) / n  # the best-of-n bound
        rows.append({"run": "best-of-n", "n": n, "kl": kl, "kl_bound": kl,
                     "sqrt_kl": math.sqrt(kl), "proxy": -1 + 0.2 * math.log2(n),
                     "gold": 1 - 0.1 * math.log2(n), "in_grammar": 1.0 - 0.05 * math.log2(n)})
    rows += [{"run": "closed-form", "beta": b, "kl": 1 / b, "sqrt_kl": math.sqrt(1 / b),
              "proxy": 1 + 0.1 / b, "gold": 2 - 0.05 / b} for b in (10, 3, 1, 0.3, 0.1)]
    return rows


def _sample(policy: str, i: int) -> dict:
    return {"policy": policy, "prompt": f"Write a review of {AMP}:" if i % 2 else "Describe it:",
            "text": f"{XSS} sample {i} of {policy} {AMP}", "proxy": 0.1 * i, "gold": -1.0,
            "in_grammar": i % 3 == 0, "terminated": i % 4 != 0}


def _summary() -> dict:
    final = _checkpoint("grpo-kl", 8, 1.0)
    return {
        "kind": "lm", "seed": 0, "tuned_run": "grpo-kl",
        "pretrain": {"nll": {"review": 58.5, "breakage": 44.5},
                     "entropy": {"review": 11.3, "breakage": 5.5},
                     "kl": {"review": 47.2, "breakage": 39.0},
                     "kl_se": {"review": 1.1, "breakage": 0.6},
                     "nll_before": {"review": 144.5, "breakage": 143.0},
                     "perplexity": {"review": 10.3, "breakage": 5.95}, "steps": 47},
        "world": {"support": {"review": 504000, "breakage": 864}},
        "reward_model": {"heldout_accuracy": 0.9, "bayes_accuracy": 0.92,
                         "train_accuracy": 0.95, "n_train": 360, "n_heldout": 40,
                         "features_rm": {"heldout_accuracy": 0.86, "sees": f"features {XSS}"}},
        "runs": {
            "dpo": {"method": "dpo", "beta": 0.1, "parting_step": None,
                    "first": _checkpoint("dpo", 0, 0), "final": _checkpoint("dpo", 6, 1.0)},
            "grpo-kl": {"method": "grpo", "beta": 0.1, "parting_step": 6,
                        "first": _checkpoint("grpo-kl", 0, 0), "final": final},
            "grpo-weak-kl": {"method": "grpo", "beta": 0.0, "parting_step": 4,
                             "first": _checkpoint("grpo-weak-kl", 0, 0),
                             "final": _checkpoint("grpo-weak-kl", 8, 1.0)},
        },
        "alarms": {"grpo-kl": [],
                   "grpo-weak-kl": [{"step": 6, "reason": "gold_falls",
                                     "message": f"gold falls {XSS} {AMP}"}]},
        "histograms": {"review": {
            "stars": {"truth": {"1": 0.1, "2": 0.1, "3": 0.2, "4": 0.3, "5": 0.3},
                      "base": {"1": 2, "3": 5, "5": 9}, "grpo-kl": {"5": 12},
                      "dpo": {}},
            XSS: {"truth": {f"c{i}": 1 / 30 for i in range(29)} | {AMP: 1 / 30},
                  "base": {AMP: 3, "c1": 2, "$5 & up": 1}, "grpo-kl": {}}}},
        "hacked": {"run": "grpo-weak-kl",
                   "samples": [_sample("grpo-weak-kl", i) | {"in_grammar": False}
                               for i in range(3)]},
        "samples": {"base": [_sample("base", i) for i in range(16)],
                    "tuned": [_sample("grpo-kl", i) for i in range(16)]},
        "timings": {"pretrain": 4.2, "grpo-kl": 1.4, "report": 0.2},
    }


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    rd = RunDir.create(tmp_path_factory.mktemp("lm"), "run")
    rd.append_metrics(_metrics({"grpo-kl": 8, "grpo-weak-kl": 8, "dpo": 6}))
    rd.write_json("config.json", {"lm": {"note": f"{XSS} {AMP}", "seed": 0}})
    path = write_lm_report(rd, _summary())
    return rd, path, path.read_text(encoding="utf-8")


def test_report_is_written_with_every_section(full_report) -> None:
    rd, path, html = full_report
    assert path == rd.file("report.html")
    for heading in SECTIONS:
        assert f">{heading}</h2>" in html.replace("&#x27;", "'"), heading
    assert not rd.file("summary.json").exists()  # the pipeline writes it, last


def test_every_text_from_the_run_is_escaped(full_report) -> None:
    _, _, html = full_report
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Fish &amp; Chips" in html
    assert AMP not in html
    # sample texts of both policies, the hacked samples, the alarm message, the config
    for needle in ("sample 3 of base", "sample 3 of grpo-kl", "sample 2 of grpo-weak-kl",
                   "gold falls &lt;script&gt;", "features &lt;script&gt;"):
        assert needle in html, needle
    assert "&amp;lt;script" not in html  # escaped once, not twice


def test_figures_are_written_and_embedded(full_report) -> None:
    rd, _, html = full_report
    for name in FIGURES:
        assert rd.file(f"figures/{name}.png").read_bytes()[:8] == PNG_MAGIC
        assert rd.file(f"figures/{name}.svg").read_text(encoding="utf-8").lstrip().startswith(
            "<?xml")
        assert f'alt="{name}"' in html
    assert html.count("data:image/png;base64,") == len(FIGURES)


def test_summary_numbers_reach_the_report(full_report) -> None:
    _, _, html = full_report
    assert "The hacking alarm fired at step 6 (gold_falls)" in html
    assert "Proxy and gold part at step 6" in html  # grpo-kl's parting step
    assert "ranks 90% of held-out preference pairs (n = 40)" in html
    # runs in training order (metrics.jsonl), not summary.json's sorted order
    assert html.index("<td>grpo-kl</td>") < html.index("<td>grpo-weak-kl</td>") \
        < html.index("<td>dpo</td>")


@pytest.fixture
def png_only(monkeypatch):
    """Skip the SVG copies where a test reads only the HTML: it halves the test's time."""
    write = RunDir.write_figure

    def png(self, stem, fig, *, formats=("png", "svg")):
        return write(self, stem, fig, formats=[f for f in formats if f == "png"])

    monkeypatch.setattr(RunDir, "write_figure", png)


@pytest.fixture
def no_render(monkeypatch):
    """Build the figures but write a stub PNG instead of drawing them (the slow part)."""
    def stub(self, stem, fig, *, formats=("png", "svg")):
        assert fig.axes, stem
        return [self.write_bytes(f"figures/{stem}.png", PNG_MAGIC + b"stub")]

    monkeypatch.setattr(RunDir, "write_figure", stub)


def test_missing_optional_keys_are_tolerated(tmp_path, png_only) -> None:
    rd = RunDir.create(tmp_path, "bare")
    rows = [r for r in _metrics({"grpo-kl": 4}) if r.get("phase") == "checkpoint"]
    for r in rows:  # nothing in the grammar: no plausibility, no JS
        r.update(in_grammar=0.0, gold=-1.0)
        for k in [k for k in r if k.startswith(("js_", "plausibility"))]:
            del r[k]
    rd.append_metrics(rows)
    path = write_lm_report(rd, {"runs": {"grpo-kl": {"method": "grpo"}}})
    html = path.read_text(encoding="utf-8")
    assert "No alarm record" in html
    assert "No samples in the summary." in html
    assert "Configuration" not in html  # no config.json
    assert rd.file("figures/training_curves.png").exists()


def test_report_without_metrics_file_uses_the_summary(tmp_path, no_render) -> None:
    rd = RunDir.create(tmp_path, "nometrics")
    s = _summary()
    del s["alarms"], s["histograms"], s["hacked"], s["timings"], s["runs"]["dpo"]
    html = write_lm_report(rd, s).read_text(encoding="utf-8")
    assert "<td>grpo-weak-kl</td>" in html and "<td>dpo</td>" not in html
    assert "No attribute histograms in the summary." in html
    assert "No timings recorded." in html


def test_alarm_events_may_be_dataclasses(tmp_path, no_render) -> None:
    from rewardshift.monitor.alarm import AlarmEvent

    rd = RunDir.create(tmp_path, "events")
    s = _summary()
    s["alarms"]["grpo-weak-kl"] = [AlarmEvent(step=7, reason="repetition", message=AMP,
                                              values={})]
    html = write_lm_report(rd, s).read_text(encoding="utf-8")
    assert "The hacking alarm fired at step 7 (repetition)" in html


def test_summary_must_be_a_mapping(tmp_path) -> None:
    with pytest.raises(InputError, match="summary"):
        write_lm_report(RunDir.create(tmp_path, "x"), [])  # type: ignore[arg-type]


def test_figures_draw_edge_cases() -> None:
    # no data at all: a placeholder, not an error
    assert figure_to_png(training_curves_figure({}))[:8] == PNG_MAGIC
    assert figure_to_png(overoptimization_figure({}))[:8] == PNG_MAGIC
    # a '$' in a category or run name is text, not mathtext
    fig = attribute_figure("review", {"price": {"truth": {"$5": 0.5, "$10": 0.5},
                                                "base": {"$5": 3}}})
    assert figure_to_png(fig)[:8] == PNG_MAGIC
    json.dumps(_summary())  # the synthetic summary is plain JSON, like the pipeline's
