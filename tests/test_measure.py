"""The measurement job on constructed sets whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from rewardshift import InputError, Sample
from rewardshift.measure import MeasureConfig, measure
from rewardshift.metrics import lexical
from rewardshift.metrics.lexical import ead_from_counts
from rewardshift.metrics.ngrams import NgramIndex
from rewardshift.metrics.tokenize import tokenize_all

WORDS = ("amber basalt cobalt dune ember fjord glacier harbor island jungle karst lagoon "
         "mesa nebula oasis prairie quartz reef savanna tundra").split()


def _text(rng: np.random.Generator, n: int = 12) -> str:
    return " ".join(rng.choice(WORDS, size=n))


def collapsed_pair(n_prompts: int = 12, k: int = 6) -> list[Sample]:
    """Base: K different samples per prompt. Tuned: K copies of one sample per prompt, each
    prompt's sample different: per-input diversity collapses, across-input diversity stays."""
    rng = np.random.default_rng(0)
    out = []
    for p in range(n_prompts):
        fixed = _text(rng)
        for _ in range(k):
            out.append(Sample(text=_text(rng), prompt_id=f"p{p}", source="base"))
            out.append(Sample(text=fixed, prompt_id=f"p{p}", source="tuned"))
    return out


FAST = MeasureConfig(embeddings=False, n_resamples=30, n_bootstrap=300)


def test_per_input_collapses_while_across_input_holds():
    res = measure(collapsed_pair(), FAST, base="base", tuned="tuned")
    comp = res.summary["comparison"]["metrics"]
    tuned = res.summary["sources"]["tuned"]["metrics"]
    # each prompt: 6 copies of one 12-token text: at most 11 distinct of 66 bigrams
    assert 0.15 < tuned["distinct_2"]["value"] <= 11 / 66 + 1e-12
    assert tuned["self_bleu_4"]["value"] == pytest.approx(1.0)
    assert tuned["distinct_2"]["per_input"] and not tuned["distinct_2_across"]["per_input"]
    assert comp["distinct_2"]["verdict"] == "less diverse"
    assert comp["self_bleu_4"]["verdict"] == "less diverse"
    assert comp["distinct_2"]["effect_size_kind"] == "cohen_dz"  # same prompts: paired
    # across inputs, one sample per prompt: both sets are equally diverse
    assert comp["distinct_2_across"]["verdict"] == "no significant change"
    assert abs(comp["distinct_2_across"]["relative_change"]) < 0.1


def test_counting_fast_path_equals_pure_functions():
    rng = np.random.default_rng(1)
    texts = [_text(rng, int(rng.integers(0, 9))) for _ in range(40)]
    tok = tokenize_all(texts)
    index = NgramIndex.build(tok, max_n=5)
    for sub in (np.arange(40), np.arange(0, 40, 3)):
        part = [tok[i] for i in sub]
        for n in (1, 2, 3):
            u, c = index.counts(sub, n)
            assert u / c == pytest.approx(lexical.distinct_n(part, n=n))
        eads = [ead_from_counts(*index.counts(sub, n), 50) for n in range(1, 6)
                if index.counts(sub, n)[1]]
        assert np.mean(eads) == pytest.approx(lexical.ead(part, vocab_size=50))


def test_same_seed_same_numbers():
    a = measure(collapsed_pair(), FAST, base="base", tuned="tuned").summary
    b = measure(collapsed_pair(), FAST, base="base", tuned="tuned").summary
    assert a == b


def test_unconditional_file_is_one_input():
    rng = np.random.default_rng(2)
    samples = [Sample(text=_text(rng), source="gen") for _ in range(10)]
    s = measure(samples, FAST).summary["sources"]["gen"]
    assert s["n_prompts"] == 1 and s["n_groups"] == 1
    assert s["metrics"]["distinct_1"]["per_input"]
    assert "distinct_1_across" not in s["metrics"]
    assert s["metrics"]["self_bleu_4"]["ci"] is not None  # half-sample CI on the one group


def test_one_sample_per_prompt_is_across_only():
    rng = np.random.default_rng(3)
    samples = [Sample(text=_text(rng), prompt_id=str(i), source="gen") for i in range(20)]
    m = measure(samples, FAST).summary["sources"]["gen"]["metrics"]
    assert not m["distinct_2"]["per_input"] and "distinct_2_across" not in m
    lo, hi = m["distinct_2"]["ci"]
    assert lo < m["distinct_2"]["value"] < hi


def test_quality_conditioned_diversity():
    rng = np.random.default_rng(4)
    good = [Sample(text=_text(rng), source="s", meta={"q": 1.0}) for _ in range(10)]
    junk = [Sample(text="the the the the", source="s", meta={"q": 0.0}) for _ in range(10)]
    res = measure(good + junk, MeasureConfig(embeddings=False, n_resamples=20,
                                             quality_field="q", quality_threshold=0.5))
    assert res.summary["quality"]["pass_rate"] == {"s": 0.5}
    assert res.summary["sources"]["s"]["n_samples"] == 10
    with pytest.raises(InputError, match="no meta field 'q'"):
        measure(good + [Sample(text="x", source="s")],
                MeasureConfig(embeddings=False, quality_field="q", quality_threshold=0.5))


def test_distribution_field_and_comparison():
    base = [Sample(text=f"t {i}", source="b", meta={"nat": c})
            for i, c in enumerate("ABCDEFGHAB")]
    tuned = [Sample(text=f"t {i}", source="t", meta={"nat": c}) for i, c in enumerate("AAAAABBBAA")]
    d = measure(base + tuned, MeasureConfig(embeddings=False, n_resamples=20, field="nat"),
                base="b", tuned="t").summary["distributions"]["nat"]
    assert d["sources"]["b"]["support"] == 8 and d["sources"]["t"]["support"] == 2
    assert d["comparison"]["coverage"] == pytest.approx(2 / 8)
    assert d["comparison"]["js"] > 0


def test_misspelled_field_fails_before_any_metric():
    samples = [Sample(text=f"t {i}", source="b", meta={"nat": "A"}) for i in range(4)]
    stages: list[str] = []
    with pytest.raises(InputError, match=r"no meta field 'nta'.*did you mean 'nat'"):
        measure(samples, MeasureConfig(embeddings=False, field="nta"),
                progress=lambda stage, *_: stages.append(stage))
    assert stages == []  # not even the features were built


def test_token_metrics_when_logprobs_present():
    top = ({"a": np.log(0.5), "b": np.log(0.5)},) * 3
    samples = [Sample(text=f"x{i} y", prompt_id="p", source="s", top_logprobs=top)
               for i in range(4)]
    m = measure(samples, FAST).summary["sources"]["s"]["metrics"]
    assert m["next_token_entropy"]["value"] == pytest.approx(np.log(2))
    assert m["branching_factor"]["value"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("samples", "kwargs", "match"),
    [
        ([], {}, "no samples"),
        ([Sample(text="only one", source="s")], {}, "1 sample"),
        ([Sample(text="a", source="s")] * 3, {"base": "s", "tuned": "x"}, "no samples with source"),
        ([Sample(text="a", source="s")] * 3, {"base": "s"}, "both"),
    ],
)
def test_bad_input(samples, kwargs, match):
    with pytest.raises(InputError, match=match):
        measure(samples, FAST, **kwargs)


def test_unknown_metric_and_bad_config():
    with pytest.raises(InputError, match="unknown metric"):
        measure(collapsed_pair(), MeasureConfig(embeddings=False, metrics=("nope",)))
    with pytest.raises(InputError, match="go together"):
        MeasureConfig(quality_field="q")


def test_metric_selection_and_undefined_metrics_are_explained():
    samples = [Sample(text="", prompt_id="p", source="s") for _ in range(3)]
    m = measure(samples, MeasureConfig(embeddings=False, metrics=("counts",),
                                       n_resamples=20)).summary["sources"]["s"]["metrics"]
    assert set(m) == {"distinct_1", "distinct_2", "distinct_3", "ngram_diversity", "ead"}
    assert m["distinct_1"]["value"] is None and "no tokens" in m["distinct_1"]["note"]


def test_ngram_index_small_and_large_subsets_agree():
    rng = np.random.default_rng(9)
    tok = tokenize_all([_text(rng, int(rng.integers(0, 15))) for _ in range(200)])
    index = NgramIndex.build(tok, max_n=5)
    for sub in (np.array([3, 17, 150]), np.arange(0, 200, 2), np.array([], dtype=np.int64)):
        for n in range(1, 6):
            grams = [tuple(t[i:i + n]) for j in sub for t in [tok[j]]
                     for i in range(len(t) - n + 1)]
            assert index.counts(sub, n) == (len(set(grams)), len(grams))


def test_skipped_families_say_why():
    top = ({"a": -0.1},)
    samples = [Sample(text=f"x{i}", source="s", top_logprobs=top if i else None)
               for i in range(4)]
    s = measure(samples, FAST).summary
    assert s["skipped"]["tokens"] == "needs top_logprobs on every sample (3 of 4 have them)"
    assert s["skipped"]["vendi"] == "embeddings disabled"
