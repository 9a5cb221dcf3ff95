"""The text grammar: exact probabilities, exact parsing, unambiguity, seeded sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from rewardshift._exceptions import InputError
from rewardshift.lm.grammar import FEATURES, PROMPTS, GrammarConfig, TextGrammar
from rewardshift.samples import Sample

KINDS = ("review", "breakage")


@pytest.fixture(scope="module")
def grammar() -> TextGrammar:
    return TextGrammar()


@pytest.fixture(scope="module")
def draws(grammar: TextGrammar) -> dict[str, list]:
    return {k: grammar.sample(50_000, seed=7, kind=k) for k in KINDS}


def test_support_sizes(grammar: TextGrammar) -> None:
    assert grammar.support_size("review") == 504_000
    assert grammar.support_size("breakage") == 864
    assert grammar.support_size() == 504_864


@pytest.mark.parametrize("kind", KINDS)
def test_probabilities_sum_to_one_and_entropy(grammar: TextGrammar, kind: str) -> None:
    lp = grammar.grammars[kind].log_probs()
    p = np.exp(lp)
    assert abs(p.sum() - 1.0) < 1e-9
    assert np.all(np.isfinite(lp))
    assert grammar.entropy(kind) == pytest.approx(-np.sum(p * lp), abs=1e-9)


def test_mixture_entropy_and_log_prob(grammar: TextGrammar) -> None:
    total = sum(w * np.exp(grammar.grammars[k].log_probs()).sum()
                for k, w in grammar.kind_probs.items())
    assert abs(total - 1.0) < 1e-9
    h = {k: grammar.entropy(k) for k in KINDS}
    assert grammar.entropy() == pytest.approx(math.log(2) + (h["review"] + h["breakage"]) / 2)
    s = grammar.sample(1, seed=3, kind="breakage")[0]
    assert grammar.log_prob(s.text) == pytest.approx(s.log_prob + math.log(0.5))
    assert grammar.log_prob(s.text, kind="breakage") == s.log_prob
    assert grammar.log_prob(s.text, kind="review") == -math.inf


@pytest.mark.parametrize("kind", KINDS)
def test_unambiguous_over_whole_support(grammar: TextGrammar, kind: str) -> None:
    texts = list(grammar.grammars[kind].texts())
    assert len(set(texts)) == len(texts) == grammar.support_size(kind)


def test_kinds_are_disjoint(grammar: TextGrammar) -> None:
    breakage = set(grammar.grammars["breakage"].texts())
    assert all(grammar.parse(t, kind="review") is None for t in breakage)


def test_parse_every_breakage_text(grammar: TextGrammar) -> None:
    for s in grammar.enumerate("breakage"):
        assert grammar.parse(s.text) == s


@pytest.mark.parametrize("kind", KINDS)
def test_parse_recovers_sampled_texts(grammar: TextGrammar, draws: dict, kind: str) -> None:
    for s in draws[kind]:
        assert grammar.parse(s.text) == s  # same attributes and bit-identical log_prob


@pytest.mark.parametrize(("kind", "attr"), [("review", "stars"), ("review", "tone"),
                                            ("review", "nationality"), ("review", "age"),
                                            ("review", "occupation"), ("breakage", "moment"),
                                            ("breakage", "pattern"), ("breakage", "angle"),
                                            ("breakage", "material")])
def test_sampling_matches_exact_marginals(grammar: TextGrammar, draws: dict, kind: str,
                                          attr: str) -> None:
    exact = grammar.marginal(kind, attr)
    labels = list(exact)
    p = np.array([exact[lb] for lb in labels])
    counts = np.array([sum(s.attributes[attr] == lb for s in draws[kind]) for lb in labels])
    n = counts.sum()
    keep = p * n >= 5  # pool the rare cells into one so the chi-square approximation holds
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(p[keep] * n, p[~keep].sum() * n)
    obs, exp = obs[exp > 0], exp[exp > 0]
    stat = np.sum((obs - exp) ** 2 / exp)
    assert chi2.sf(stat, len(obs) - 1) > 1e-4
    assert np.max(np.abs(counts / n - p)) < 0.01


def test_shatter_physics_qualitatively(grammar: TextGrammar) -> None:
    moment = grammar.marginal("breakage", "moment")
    assert max(moment, key=moment.get) == "transitional"
    assert moment["peak burst"] < 0.05 and moment["clean end state"] < 0.1
    pattern = grammar.marginal("breakage", "pattern")
    assert pattern["symmetric star"] < 0.1 < pattern["asymmetric"]
    assert grammar.marginal("breakage", "angle")["head-on"] == pytest.approx(0.1206, abs=1e-3)


@pytest.mark.parametrize("text", [
    "the the the the",
    "",
    "Sophie, 29, a nurse from the United Kingdom, writes: The kettle is loud but it works.",
    "Sophie, 29, a nurse from the United Kingdom, writes: The kettle is loud but it works. 3 stars",
    "Sophie, 29, a nurse from the United Kingdom, writes: The kettle is loud but it works. 3 stars. ",
    "Sophie, 29, a nurse from the United Kingdom, writes: The kettle is loud but it works. 5 stars.",
    "Sophie, 29, a nurse from the United Kingdom, writes: The kettle works perfectly, I love it. "
    "1 star.",
    "Sophie, 29, a nurse from France, writes: The kettle is loud but it works. 3 stars.",
    "Sophie, 29, nurse a from the United Kingdom, writes: The kettle is loud but it works. 3 stars.",
    "A wine glass hits the tiled floor at a slant. Halfway through, the pieces spray out",
    "A wine glass hits the tiled floor at a slant. Halfway through, the pieces spray out "
    "unevenly to one side. Halfway through, the pieces spray out unevenly to one side.",
    "A wine glass hits the floor tiled at a slant. Halfway through, the pieces spray out "
    "unevenly to one side.",
])
def test_out_of_grammar(grammar: TextGrammar, text: str) -> None:
    assert grammar.parse(text) is None
    assert grammar.log_prob(text) == -math.inf
    assert np.all(np.isnan(grammar.features([text])))


def test_in_grammar_reference_texts(grammar: TextGrammar) -> None:
    review = ("Sophie, 29, a nurse from the United Kingdom, writes: The kettle is loud but it "
              "works. 3 stars.")
    s = grammar.parse(review)
    assert s is not None and s.attributes["stars"] == "3" and s.attributes["tone"] == "neutral"
    assert s.attributes["sentiment"] == "mixed" and s.attributes["gender"] == "female"
    assert grammar.parse("A wine glass hits the tiled floor at a slant. Halfway through, the "
                         "pieces spray out unevenly to one side.") is not None


def test_determinism_by_seed(grammar: TextGrammar) -> None:
    a, b = grammar.sample(200, seed=11), grammar.sample(200, seed=11)
    assert a == b
    assert a != grammar.sample(200, seed=12)
    assert {s.kind for s in a} == set(KINDS)


def test_features_in_unit_interval(grammar: TextGrammar, draws: dict) -> None:
    for kind in KINDS:
        f = grammar.features(draws[kind][:500])
        assert f.shape == (500, len(FEATURES))
        assert np.all((f >= 0) & (f <= 1))
    # the mode of each kind is fully typical
    for kind in KINDS:
        g = grammar.grammars[kind]
        mode = np.unravel_index(np.argmax(g.log_joint), g.shape)
        assert grammar.features([g.render(mode)])[0, FEATURES.index("typical")] == 1.0


def test_to_samples(grammar: TextGrammar, draws: dict) -> None:
    src = draws["breakage"][:10] + draws["review"][:10]
    out = grammar.to_samples(src, seed=0)
    assert all(isinstance(s, Sample) for s in out)
    for g, s in zip(src, out, strict=True):
        assert s.text == g.text and s.logprob == g.log_prob and s.meta["kind"] == g.kind
        assert (s.prompt_id, s.prompt) in PROMPTS[g.kind]
        assert grammar.kind_of_prompt(s.prompt) == g.kind
        assert {k: v for k, v in s.meta.items() if k != "kind"} == g.attributes


def test_bad_input(grammar: TextGrammar) -> None:
    with pytest.raises(InputError, match="kind"):
        grammar.sample(3, seed=0, kind="poem")
    with pytest.raises(InputError, match="n=0"):
        grammar.sample(0, seed=0)
    with pytest.raises(InputError, match="kind_weights"):
        GrammarConfig(kind_weights=(-1.0, 1.0))
    only = TextGrammar(GrammarConfig(kind_weights=(0.0, 1.0)))
    assert {s.kind for s in only.sample(50, seed=0)} == {"breakage"}
