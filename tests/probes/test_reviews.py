"""The review probe: VADER on reviews of known sentiment, bins, the top-bin share, tests."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from importlib import resources

import numpy as np
import pytest

from rewardshift import InputError, Sample
from rewardshift.measure import MeasureConfig
from rewardshift.probes import ReviewProbe, run_probe, sentiment_bins, vader_compound
from rewardshift.probes.reviews import DEFAULT_EDGES, bin_labels

from ._fakes import FAST, FakeEncoder, cycling_generator

needs_vader = pytest.mark.skipif(importlib.util.find_spec("vaderSentiment") is None,
                                 reason="needs vaderSentiment (pip install vaderSentiment)")

# (review, expected class): "very positive" = compound >= 0.8 (the top bin), "positive"
# in [0.05, 0.8), "neutral" in (-0.05, 0.05), "negative" <= -0.05
KNOWN = [
    ("Absolutely love these earbuds! Amazing sound, great battery, best purchase this year.",
     "very positive"),
    ("Wonderful book. Beautifully written, moving and funny; I enjoyed every page.",
     "very positive"),
    ("Excellent vacuum, powerful and quiet. Highly recommend it, fantastic value!",
     "very positive"),
    ("Good chair for the price.", "positive"),
    ("The bottle keeps water cold. Nice.", "positive"),
    ("The laptop arrived on Tuesday in a brown box.", "neutral"),
    ("It is a phone case.", "neutral"),
    ("Terrible. It broke after two days and support never answered.", "negative"),
    ("Boring, badly written and far too long. I hated the ending.", "negative"),
    ("Awful smell, the noodles were bland and disgusting.", "negative"),
]


def _klass(x: float) -> str:
    if x >= 0.8:
        return "very positive"
    if x >= 0.05:
        return "positive"
    return "neutral" if x > -0.05 else "negative"


@needs_vader
def test_vader_lexicon_ships_inside_the_package():
    lexicon = resources.files("vaderSentiment") / "vader_lexicon.txt"
    assert lexicon.is_file() and len(lexicon.read_text(encoding="utf-8")) > 100_000


@needs_vader
@pytest.mark.parametrize(("text", "klass"), KNOWN, ids=[k[0][:24] for k in KNOWN])
def test_vader_on_reviews_of_known_sentiment(text, klass):
    assert _klass(vader_compound(text)) == klass


def test_vader_rejects_non_text():
    with pytest.raises(InputError, match="expected a str"):
        vader_compound(3)


def test_bins_edges_and_labels():
    assert DEFAULT_EDGES == (-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert sentiment_bins([-1.0, -0.81, 0.0, 0.7999, 0.8, 1.0, 1.5]).tolist() == [
        0, 0, 5, 8, 9, 9, 9]
    labels = bin_labels()
    assert labels[0] == "[-1.0, -0.8)" and labels[-1] == "[0.8, 1.0]" and len(labels) == 10
    assert ReviewProbe().top_bin == "[0.8, 1.0]"
    with pytest.raises(InputError, match="strictly increasing"):
        sentiment_bins([0.1], edges=(0.0, 0.5, 0.5, 1.0))


def _numeric_probe(**kw):
    """Reviews whose text starts with their score: the statistics can be checked by hand."""
    return ReviewProbe(scorer=lambda t: float(t.split()[0]), embed=False, measure_config=FAST,
                       n_resamples=200, **kw)


def _reviews(scores_by_prompt, source):
    return [Sample(text=f"{s} review number {i} of {pid}", prompt_id=pid, source=source)
            for pid, scores in scores_by_prompt.items() for i, s in enumerate(scores)]


def test_top_bin_share_comparison_on_known_scores():
    # 8 prompts x 5 samples: base puts 1 of 5 in the top bin, tuned 4 of 5
    base = {f"p{i}": [0.9, 0.3, -0.5, 0.1, -0.9] for i in range(8)}
    tuned = {f"p{i}": [0.9, 0.95, 0.85, 0.99, 0.2] for i in range(8)}
    res = _numeric_probe().analyze({"base": _reviews(base, "base"),
                                    "tuned": _reviews(tuned, "tuned")}, seed=1)
    s = res.summary
    assert s["base.top_bin_share"] == pytest.approx(0.2)
    assert s["tuned.top_bin_share"] == pytest.approx(0.8)
    assert s["base.top_bin_share_ci_method"] == "percentile bootstrap over prompts"
    # every prompt has the same share: the cluster bootstrap interval is a point
    assert s["tuned.top_bin_share_ci_lo"] == pytest.approx(0.8)
    assert s["base.bin_support"] == 5 and s["tuned.bin_support"] == 2
    c = res.comparison("sentiment.top_bin_share")
    assert c.test == "paired permutation over prompts" and c.p_value < 0.01
    assert c.effect_size == pytest.approx(2 * math.asin(math.sqrt(0.8))
                                          - 2 * math.asin(math.sqrt(0.2)))
    assert res.verdicts[0].startswith("share of reviews in the top sentiment bin "
                                      "(compound >= 0.8) 20.0% → 80.0% (+60.0 points), p ")
    assert res.verdicts[0].endswith(": less diverse")
    assert res.comparison("sentiment.bin_entropy").tuned < res.comparison(
        "sentiment.bin_entropy").base
    assert res.comparison("sentiment.sd", "per_input").verdict.endswith("less diverse")
    assert res.comparison("sentiment.js").p_value < 0.05
    assert res.tables["tuned"]["bins"]["[0.8, 1.0]"] == 32


def test_single_prompt_uses_wilson_and_fisher():
    base = {"only": [0.9] + [0.0] * 19}
    tuned = {"only": [0.9] * 18 + [0.0] * 2}
    res = _numeric_probe().analyze({"base": _reviews(base, "base"),
                                    "tuned": _reviews(tuned, "tuned")})
    assert res.summary["tuned.top_bin_share_ci_method"] == "Wilson"
    lo, hi = res.summary["tuned.top_bin_share_ci_lo"], res.summary["tuned.top_bin_share_ci_hi"]
    assert lo < 0.9 < hi
    c = res.comparison("sentiment.top_bin_share")
    assert c.test == "Fisher exact" and c.p_value < 1e-6


def test_identical_sources_show_no_change():
    scores = {f"p{i}": [0.9, 0.1, -0.3, 0.5] for i in range(6)}
    res = _numeric_probe().analyze({"base": _reviews(scores, "base"),
                                    "tuned": _reviews(scores, "tuned")})
    c = res.comparison("sentiment.top_bin_share")
    assert c.base == c.tuned and c.verdict.endswith("no significant change")


def test_scorer_must_return_a_sentiment():
    probe = ReviewProbe(scorer=lambda t: 3.0, embed=False, measure_config=FAST)
    data = {"base": [Sample(text="a", prompt_id="p"), Sample(text="b", prompt_id="p")]}
    with pytest.raises(InputError, match=r"must return a number in \[-1, 1\]"):
        probe.analyze(data)
    with pytest.raises(InputError, match="item"):
        ReviewProbe(template="no slot")


@needs_vader
def test_run_probe_with_vader_and_semantic_clusters():
    good = ["Amazing product, I love it, works perfectly and looks great!",
            "Fantastic quality, excellent value, highly recommend to everyone!"]
    mixed = ["It broke after a week. Very disappointed.", "Okay, nothing special.",
             "The battery is weak but the screen is nice.", *good]
    probe = ReviewProbe(items=ReviewProbe().items[:6], n_resamples=200,
                        measure_config=dataclasses.replace(FAST, embedding_model=FakeEncoder()))
    res = run_probe(probe, {"base": cycling_generator(mixed), "tuned": cycling_generator(good)},
                    n=5, seed=3)
    s = res.summary
    assert s["tuned.top_bin_share"] == 1.0 and s["base.top_bin_share"] < 0.6
    assert s["tuned.semantic_clusters"] <= 2 < s["base.semantic_clusters"]
    scopes = {(c.metric, c.scope) for c in res.comparisons}
    assert ("embedding_diversity", "per_input") in scopes
    assert ("embedding_diversity", "across_input") in scopes
    assert any(v.startswith("per-input embedding diversity") for v in res.verdicts)
    assert len(res.tables["base"]["scores"]) == 30


def test_semantic_clusters_skipped_without_embeddings():
    scores = {f"p{i}": [0.9, 0.1, -0.3] for i in range(3)}
    res = _numeric_probe().analyze({"base": _reviews(scores, "base")})
    assert res.base is None and res.comparisons == [] and res.verdicts == []
    assert "base.semantic_clusters" not in res.summary
    assert any("semantic clusters skipped" in n for n in res.notes)
    assert np.isfinite(res.summary["base.mean_compound"])


def test_measure_config_is_respected_but_seed_and_embed_win():
    scores = {f"p{i}": [0.9, 0.1, -0.3] for i in range(3)}
    probe = ReviewProbe(scorer=lambda t: float(t.split()[0]), embed=False,
                        measure_config=MeasureConfig(n_bootstrap=50, n_resamples=10, seed=99))
    res = probe.analyze({"base": _reviews(scores, "base")}, seed=7)
    assert res.diversity["config"]["seed"] == 7
    assert res.diversity["config"]["embeddings"] is False
    assert res.diversity["config"]["n_bootstrap"] == 50
