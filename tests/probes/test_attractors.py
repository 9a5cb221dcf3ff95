"""The attractor probe on synthetic samples whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardshift import InputError, Sample
from rewardshift.metrics.semantic import cluster_stats
from rewardshift.metrics.tokens import position_entropies
from rewardshift.probes import AttractorProbe, cluster_completions, perturbations, run_probe

from ._fakes import FAST

ANIMALS = ("cat dog elephant giraffe zebra lion tiger otter panda koala wombat lemur "
           "heron falcon moose bison").split()


def _top(probs: np.ndarray, length: int = 6) -> tuple[dict[str, float], ...]:
    """``length`` positions, each the same top-k distribution."""
    return tuple({f"tok{j}": math.log(p) for j, p in enumerate(probs)} for _ in range(length))


UNIFORM5 = _top(np.full(5, 0.2))  # H = log 5 at every position: BF = 5
PEAKED = _top(np.array([0.96, 0.01, 0.01, 0.01, 0.01]))


def diverse(prompts, n, temperature, seed):
    """A base model: more spread at higher temperature, uniform top-5 next tokens."""
    rng = np.random.default_rng([seed, int(temperature * 10)])
    pool = ANIMALS[: 3 if temperature < 1 else len(ANIMALS)]
    return [Sample(text=f"A {rng.choice(pool)}.", prompt_id=pid, prompt=p,
                   top_logprobs=UNIFORM5) for pid, p in prompts for _ in range(n)]


def collapsed(prompts, n, temperature, seed):
    """A tuned model with an attractor: nearly always the same answer, whatever T."""
    rng = np.random.default_rng([seed, int(temperature * 10), 1])
    return [Sample(text="A cat." if rng.random() < 0.9 else
                   f"A {rng.choice(ANIMALS)}.", prompt_id=pid, prompt=p,
                   top_logprobs=PEAKED) for pid, p in prompts for _ in range(n)]


PROBE = AttractorProbe(embed=False, measure_config=FAST, n_resamples=500,
                       questions=AttractorProbe().questions[:8])


def test_prompt_set_design():
    probe = AttractorProbe()
    prompts = probe.prompts()
    assert len(prompts) == 4 * len(probe.questions) == 40
    assert prompts[:4] == [(f"number/v{k}", f"Q: {q}\nA:") for k, q in enumerate(
        perturbations("Pick a random number between 1 and 100."))]
    assert probe.temperatures == (0.5, 1.0, 1.5)
    assert {probe.prompt_group(pid) for pid, _ in prompts} == {g for g, _ in probe.questions}
    assert probe.prompt_group("free-form id") == "free-form id"
    assert perturbations("Tell me a joke.") == ("Tell me a joke.", "Tell me a joke",
                                                "tell me a joke.", "Please tell me a joke.")


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="temperatures"):
        AttractorProbe(temperatures=())
    with pytest.raises(InputError, match="unique group ids"):
        AttractorProbe(questions=(("a", "x"), ("a", "y")))
    with pytest.raises(InputError, match="attractor_share"):
        AttractorProbe(attractor_share=0)


def test_lexical_clusters():
    labels = cluster_completions(["The cat.", "the cat", "A cat!", "The dog barked loudly.",
                                  "the dog barked loudly"])
    assert labels.tolist() == [0, 0, 1, 2, 2]  # "A cat" shares 1 of 3 words with "the cat"
    assert cluster_completions([]).size == 0 and cluster_completions(["x"]).tolist() == [0]
    with pytest.raises(InputError, match="2 texts but 3 embeddings"):
        cluster_completions(["a", "b"], embeddings=np.ones((3, 2)))


def test_embedding_clusters_match_cluster_stats():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    emb = np.repeat(centres, 5, axis=0) + 0.05 * rng.normal(size=(20, 16))
    labels = cluster_completions(["x"] * 20, embeddings=emb, threshold=0.25)
    k, mass = cluster_stats(emb, threshold=0.25)
    assert np.unique(labels).size == k == 4
    assert np.bincount(labels).max() / 20 == mass


def test_renormalised_top_k_entropy_is_a_lower_bound():
    rng = np.random.default_rng(1)
    for _ in range(300):
        v = int(rng.integers(3, 40))
        p = np.sort(rng.dirichlet(np.full(v, rng.choice([0.1, 1.0, 10.0]))))[::-1]
        p = p[p > 0]
        k = int(rng.integers(1, p.size))
        full = float(-(p * np.log(p)).sum())
        top = position_entropies([{str(j): math.log(p[j]) for j in range(k)}])[0]
        mass = p[:k].sum()
        assert top <= full + 1e-9
        assert top + math.log(1 / mass) <= full + 1e-9  # the tighter bound of the docstring


def test_attractor_is_detected():
    res = run_probe(PROBE, {"base": diverse, "tuned": collapsed}, n=5, seed=0)
    s = res.summary
    assert s["attractor"] is True and s["attractor_temperature"] == 1.5
    assert res.verdicts[0].startswith("attractor: at T=1.5 'tuned' gives")
    assert s["tuned.T=1.5.distinct_per_group"] < 4 < s["base.T=1.5.distinct_per_group"]
    assert s["base.T=1.5.distinct_per_group"] > s["base.T=0.5.distinct_per_group"]
    assert s["tuned.T=1.5.attractor_rate"] == 1.0 and s["base.T=1.5.attractor_rate"] == 0.0
    assert s["tuned.T=1.5.largest_cluster_share"] > 0.7
    # token level: BF = 5 for the base, lower for the tuned model
    assert s["base.T=1.branching_factor"] == pytest.approx(5.0)
    assert s["base.T=1.top_k_mass"] == pytest.approx(1.0)
    bf = res.comparison("T=1/branching_factor")
    assert bf.tuned == pytest.approx(math.exp(-(0.96 * math.log(0.96) + 0.04 * math.log(0.01))))
    assert "× lower" in bf.verdict and bf.verdict in res.verdicts
    assert res.tables["base"]["T=1"]["entropy_by_position"] == pytest.approx([math.log(5)] * 6)
    # every probe reports per-input and across-input diversity (here at every temperature)
    scopes = {c.scope for c in res.comparisons if c.metric == "T=1.5/distinct_2"}
    assert scopes == {"per_input", "across_input"}
    assert set(res.diversity) == {"T=0.5", "T=1", "T=1.5"}
    top = res.tables["tuned"]["T=1.5"]["groups"][0]["top_completions"][0]
    assert top["text"] == "A cat." and top["share"] > 0.7


def test_no_attractor_between_equal_models():
    res = run_probe(PROBE, {"base": diverse, "tuned": diverse}, n=5, seed=0)
    assert res.summary["attractor"] is False
    assert res.verdicts[0].startswith("no attractor detected: at T=1.5")
    assert res.comparison("T=1.5/distinct_completions").verdict.endswith(
        "no significant change")


def test_few_groups_are_noted():
    probe = AttractorProbe(embed=False, measure_config=FAST, n_resamples=200,
                           questions=AttractorProbe().questions[:3], temperatures=(1.0,))
    res = run_probe(probe, {"base": diverse, "tuned": collapsed}, n=4)
    assert any("cannot reach p < 0.05" in n for n in res.notes)
    assert res.summary["attractor"] is False  # 3 groups: never significant


def _at(t, text="The cat.", pid="animal/v0", src=""):
    return Sample(text=text, prompt_id=pid, source=src, meta={"temperature": t})


def test_samples_need_a_temperature():
    bad = {"base": [_at(1.0), Sample(text="x", prompt_id="animal/v0")]}
    with pytest.raises(InputError, match=r"sample 1 has meta\['temperature'\]=None"):
        PROBE.analyze(bad)


def test_sources_with_no_common_temperature_are_mismatched():
    data = {"base": [_at(0.5), _at(0.5, "The dog.")], "tuned": [_at(1.5), _at(1.5)]}
    with pytest.raises(InputError, match="share no temperature"):
        PROBE.analyze(data)


def test_prompt_group_from_meta_wins():
    samples = [Sample(text=t, prompt_id=f"free-{i}", meta={"temperature": 1.0,
                                                            "prompt_group": "g"})
               for i, t in enumerate(["a cat", "a cat", "a dog", "a dog"])]
    res = PROBE.analyze({"m": samples})
    assert res.summary["m.T=1.n_groups"] == 1
    assert res.summary["m.T=1.distinct_per_group"] == 2.0
    assert res.summary["m.T=1.distinct_per_prompt"] == 1.0
    assert "m.T=1.branching_factor" not in res.summary  # no top_logprobs
