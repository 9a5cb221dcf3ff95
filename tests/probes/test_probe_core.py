"""What the probes share: run_probe with fake backends, input checks, verdicts, results."""

from __future__ import annotations

import importlib
import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from rewardshift import InputError, Sample
from rewardshift.probes import (
    PROBES,
    AttractorProbe,
    PersonaProbe,
    Probe,
    ReviewProbe,
    collect_samples,
    describe_change,
    format_p,
    rarefied_support,
    run_probe,
)

from ._fakes import FAST, cycling_generator

PERSONAS_BASE = [
    "Ana is a 34-year-old Brazilian nurse.", "Kwame is a 52-year-old Ghanaian farmer.",
    "Yuki is a 27-year-old Japanese designer.", "Lars is a 61-year-old Swedish plumber.",
    "Priya is a 45-year-old Indian lawyer.", "Carlos is a 38-year-old Mexican chef.",
    "Olga is a 29-year-old Russian engineer.", "Amina is a 41-year-old Kenyan teacher.",
    "Pierre is a 70-year-old French pilot.", "Mei is a 23-year-old Chinese student.",
    "Ahmed is a 36-year-old Egyptian accountant.", "Sofia is a 55-year-old Italian dentist.",
]
PERSONAS_TUNED = [
    "Sarah is a 34-year-old American software engineer.",
    "Emily is a 32-year-old Canadian software engineer.",
    "Jessica is a 35-year-old British software engineer.",
]


def _persona_probe(**kw):
    return PersonaProbe(products=PersonaProbe().products[:6], embed=False, measure_config=FAST,
                        n_resamples=200, **kw)


def test_run_probe_with_fake_generators():
    calls = []
    res = run_probe(_persona_probe(), {"base": cycling_generator(PERSONAS_BASE, record=calls),
                                       "tuned": cycling_generator(PERSONAS_TUNED)},
                    n=6, seed=11)
    assert calls == [(6, 6, 1.0, 11)]  # (prompts, n, temperature, seed), positionally
    s = res.summary
    assert (res.base, res.tuned, res.sources) == ("base", "tuned", ["base", "tuned"])
    assert s["base.nationality.support"] == 12 and s["tuned.nationality.support"] == 3
    assert s["base.n_samples"] == 36 and s["base.nationality.found_rate"] == 1.0
    assert s["nationality.coverage"] == 0.0 and s["nationality.js"] == pytest.approx(math.log(2))
    support = res.comparison("nationality.support")
    assert support.p_value < 0.05 and support.verdict.endswith("less diverse")
    assert res.verdicts[0].startswith(
        "nationality: 12 distinct values in 'base' against 3 in 'tuned' (at a common n=36: "
        "12.0 vs 3.0); nationality support (distinct values) 75% lower (12 → 3), p ")
    occ = res.comparison("occupation.entropy", "pooled")
    assert occ.tuned == 0.0 and occ.base == pytest.approx(math.log(12))
    assert res.comparison("gender.entropy", "per_input").effect_size_kind == "cohen_dz"
    assert res.tables["tuned"]["histograms"]["occupation"] == {"software engineer": 36}
    # every probe reports per-input and across-input diversity (measure's metrics)
    assert {c.scope for c in res.comparisons if c.metric == "distinct_2"} == {
        "per_input", "across_input"}
    assert "base.diversity.distinct_2" in s and "base.diversity.distinct_2_across" in s
    assert res.diversity["comparison"]["base"] == "base"
    json.dumps(res.to_dict())  # JSON-ready


def test_collect_samples_stamps_source_and_temperature():
    def backend(prompts, n, temperature, seed):
        return [Sample(text="A cat.", prompt_id=pid, source="gpt-x") for pid, _ in prompts
                for _ in range(n)]

    probe = AttractorProbe(questions=AttractorProbe().questions[:2])
    got = collect_samples(probe, {"tuned": backend}, n=3, seed=5)
    samples = got["tuned"]
    assert len(samples) == 8 * 3 * 3  # prompts x n x temperatures
    assert {s.source for s in samples} == {"tuned"}
    assert {s.meta["model_source"] for s in samples} == {"gpt-x"}
    assert sorted({s.meta["temperature"] for s in samples}) == [0.5, 1.0, 1.5]
    # one callable stands for one named source
    one = collect_samples(probe, backend, n=1, sources=["model"])
    assert list(one) == ["model"] and len(one["model"]) == 24


def test_single_source_is_described_without_comparisons():
    res = run_probe(_persona_probe(), cycling_generator(PERSONAS_BASE), n=2,
                    sources=["only"])
    assert res.base is None and res.comparisons == [] and res.verdicts == []
    assert res.summary["only.nationality.support"] == 12


@pytest.mark.parametrize(("generate", "kw", "match"), [
    (cycling_generator(["x"]), {}, "one generate function stands for one source"),
    ({"base": cycling_generator(["x"])}, {"sources": ["tuned"]}, "have no generate function"),
    ({"base": lambda *a: []}, {}, "returned no samples"),
    ({"base": lambda *a: ["text"]}, {}, "not a Sample"),
    ({"base": lambda *a: None}, {}, "must return a list of Sample"),
    ({"base": "not callable"}, {}, "not a callable"),
    ({}, {}, "non-empty mapping"),
])
def test_bad_backends(generate, kw, match):
    with pytest.raises(InputError, match=match):
        collect_samples(_persona_probe(), generate, n=2, **kw)


def test_bad_n():
    with pytest.raises(InputError, match="n=0 must be a positive integer"):
        collect_samples(_persona_probe(), {"b": cycling_generator(["x"])}, n=0)


TWO = [Sample(text="a", prompt_id="p"), Sample(text="b", prompt_id="p")]


@pytest.mark.parametrize("probe", [_persona_probe(), ReviewProbe(embed=False),
                                   AttractorProbe(embed=False)], ids=["personas", "reviews",
                                                                      "attractors"])
@pytest.mark.parametrize(("data", "kw", "match"), [
    ({}, {}, "no sources given"),
    ([TWO], {}, "must be a mapping"),
    ({"base": TWO[:1]}, {}, "has 1 sample"),
    ({"base": []}, {}, "has 0 sample"),
    ({"base": TWO, "tuned": [TWO[0], Sample(text="c", source="base")]}, {}, "mismatched"),
    ({"base": TWO, "tuned": ["text", "text"]}, {}, "not a Sample"),
    ({"base": TWO, "tuned": "ab"}, {}, "must map to a list of Sample"),
    ({"base": TWO, "tuned": TWO}, {"base": "base", "tuned": "other"}, "is not a source"),
    ({"base": TWO, "tuned": TWO}, {"base": "base"}, "give both base and tuned"),
    ({"base": TWO, "tuned": TWO}, {"base": "base", "tuned": "base"}, "compare two sources"),
])
def test_bad_input_is_a_clear_input_error(probe, data, kw, match):
    with pytest.raises(InputError, match=match):
        probe.analyze(data, **kw)


def test_pair_defaults():
    data = {"zeta": PERSONAS_BASE, "alpha": PERSONAS_TUNED, "base": PERSONAS_TUNED}
    data = {k: [Sample(text=t, prompt_id=f"p{i % 2}") for i, t in enumerate(v)]
            for k, v in data.items()}
    res = _persona_probe().analyze({k: data[k] for k in ("zeta", "alpha")})
    assert (res.base, res.tuned) == ("zeta", "alpha")  # the first two sources
    res = _persona_probe().analyze(data, base="base", tuned="zeta")
    assert (res.base, res.tuned) == ("base", "zeta")


@pytest.mark.parametrize(("p", "text"), [(0.0004, "p < 0.001"), (0.0042, "p = 0.004"),
                                         (0.0312, "p = 0.031"), (0.3141, "p = 0.31"),
                                         (1.0, "p = 1"), (None, "no p-value"),
                                         (math.nan, "no p-value")])
def test_format_p(p, text):
    assert format_p(p) == text


@pytest.mark.parametrize(("args", "kw", "text"), [
    (("per-input embedding diversity", 0.52, 0.31), {"p_value": 0.0002},
     "per-input embedding diversity 40% lower (0.52 → 0.31), p < 0.001: less diverse"),
    (("nationality entropy", 2.0, 2.5), {"p_value": 0.01, "unit": "nats"},
     "nationality entropy 25% higher (2 → 2.5 nats), p = 0.01: more diverse"),
    (("self-BLEU", 0.2, 0.5), {"p_value": 0.2, "direction": "lower_more_diverse"},
     "self-BLEU 150% higher (0.2 → 0.5), p = 0.2: no significant change"),
    (("top-bin share", 0.059, 0.82), {"p_value": 0.001, "kind": "points",
                                      "direction": "lower_more_diverse"},
     "top-bin share 5.9% → 82.0% (+76.1 points), p = 0.001: less diverse"),
    (("branching factor", 6.0, 2.0), {"p_value": 0.003, "kind": "ratio"},
     "branching factor 3× lower (6 → 2), p = 0.003: less diverse"),
    (("mean sentiment", 0.1, 0.9), {"p_value": 0.02, "kind": "difference",
                                    "direction": "neutral"},
     "mean sentiment +0.8 (0.1 → 0.9), p = 0.02: a significant shift"),
    (("JS", 0.0, 0.3), {"p_value": 0.001, "kind": "value", "direction": "distance",
                        "unit": "nats"},
     "JS 0.3 nats, p = 0.001: the distributions differ"),
    (("support", 0.0, 3.0), {"p_value": None}, "support from 0 to 3, no p-value"),
    (("entropy", 1.0, 1.0), {"p_value": 1.0}, "entropy unchanged (1), p = 1: no significant "
                                              "change"),
    (("x", None, 1.0), {"p_value": 0.1}, "x: undefined (base None, tuned 1.0)"),
])
def test_verdict_strings(args, kw, text):
    assert describe_change(*args, **kw) == text


def test_rarefied_support_matches_brute_force():
    counts = {"a": 3, "b": 2, "c": 1}
    pool = [k for k, c in counts.items() for _ in range(c)]
    for n in range(1, 7):
        subsets = list(itertools.combinations(range(len(pool)), n))
        brute = np.mean([len({pool[i] for i in s}) for s in subsets])
        assert rarefied_support(counts, n) == pytest.approx(brute)
    assert rarefied_support([5, 0, 2], 100) == 2.0 and rarefied_support([1], 0) == 0.0


def test_result_lookup_and_protocol():
    res = run_probe(_persona_probe(), {"base": cycling_generator(PERSONAS_BASE),
                                       "tuned": cycling_generator(PERSONAS_TUNED)}, n=2)
    with pytest.raises(KeyError, match="no comparison of 'nope'"):
        res.comparison("nope")
    c = res.comparison("nationality.entropy", "pooled")
    assert c.change == pytest.approx(c.tuned - c.base)
    assert c.to_dict()["relative_change"] == pytest.approx(c.change / c.base)
    for cls in PROBES.values():
        assert isinstance(cls(), Probe)
        assert all(isinstance(pid, str) and isinstance(p, str) for pid, p in cls().prompts())
    assert len({pid for pid, _ in PersonaProbe().prompts()}) == 20


@pytest.mark.parametrize("name", ["rewardshift.probes", "rewardshift.probes.personas",
                                  "rewardshift.probes.reviews", "rewardshift.probes.attractors",
                                  "rewardshift.probes.gazetteer"])
def test_public_namespaces(name):
    mod = importlib.import_module(name)
    assert list(mod.__all__) == sorted(mod.__all__)
    assert all(hasattr(mod, attr) for attr in mod.__all__)


def test_probes_import_no_model_library():
    code = ("import sys, rewardshift.probes; print(sorted(m for m in ('torch', 'transformers', "
            "'sentence_transformers', 'vaderSentiment') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_gazetteer_sizes():
    from rewardshift.probes.gazetteer import (
        AMBIGUOUS_PLACES,
        CITIES,
        COUNTRIES,
        OCCUPATIONS,
        SIZES,
    )

    assert SIZES["countries"] == len(COUNTRIES) >= 195
    canon = {c for c, _, _ in COUNTRIES}
    assert set(CITIES.values()) <= canon  # every city maps to a known country
    from rewardshift.lab.worlds.personas import NATIONALITIES
    from rewardshift.lab.worlds.personas import OCCUPATIONS as WORLD_OCCUPATIONS

    assert {n for n, _ in NATIONALITIES} <= canon  # the lab world's names are reused
    assert {o for o, _, _ in WORLD_OCCUPATIONS} <= {c for c, _ in OCCUPATIONS}
    known = set(CITIES) | canon | {a for _, al, _ in COUNTRIES for a in al}
    assert AMBIGUOUS_PLACES <= known
