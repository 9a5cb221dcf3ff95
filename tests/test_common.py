"""Properties every diversity metric shares, checked over a registry (cf. sklearn's test_common).

* identical samples give the metric's minimum diversity;
* shuffling the samples changes nothing;
* bounded metrics stay in bounds;
* more varied sets score as more diverse, in the metric's stated direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from rewardshift.measure import FAMILIES, HIGHER
from rewardshift.metrics import lexical, semantic
from rewardshift.metrics.tokenize import tokenize_all


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable[[list[str], np.ndarray], float]  # (texts, embeddings) -> value
    higher_more_diverse: bool
    bounds: tuple[float, float]
    identical: float | None  # value on identical samples (minimum diversity), if fixed


def _tok(texts: list[str]) -> list[list[str]]:
    return tokenize_all(texts)


METRICS = [
    Spec("distinct_2", lambda t, e: lexical.distinct_n(_tok(t), n=2), True, (0, 1), None),
    Spec("ngram_diversity", lambda t, e: lexical.ngram_diversity(_tok(t)), True, (0, 4), None),
    Spec("ead", lambda t, e: lexical.ead(_tok(t), vocab_size=1000), True, (0, np.inf), None),
    Spec("self_bleu_4", lambda t, e: lexical.self_bleu(_tok(t)), False, (0, 1), 1.0),
    Spec("compression_ratio_gzip", lambda t, e: lexical.compression_ratio(t), False,
         (0, np.inf), None),
    Spec("homogenization_rougel", lambda t, e: lexical.homogenization(_tok(t)), False, (0, 1),
         1.0),
    Spec("embedding_diversity", lambda t, e: semantic.embedding_diversity(e), True, (0, 2), 0.0),
    Spec("vendi_q1", lambda t, e: semantic.vendi_score(e, q=1), True, (1, np.inf), 1.0),
    Spec("vendi_qinf", lambda t, e: semantic.vendi_score(e, q=np.inf), True, (1, np.inf), 1.0),
    Spec("remote_clique", lambda t, e: semantic.remote_clique(e), True, (0, 2), 0.0),
    Spec("chamfer_distance", lambda t, e: semantic.chamfer_distance(e), True, (0, 2), 0.0),
    Spec("largest_cluster_mass", lambda t, e: semantic.largest_cluster_mass(e), False, (0, 1),
         1.0),
]
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
         "rho sigma tau upsilon").split()


def _set(varied: bool, n: int = 12, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    if varied:
        texts = [" ".join(rng.choice(WORDS, 10)) for _ in range(n)]
        emb = rng.normal(size=(n, 16))
    else:
        texts = [" ".join(WORDS[:10])] * n
        emb = np.tile(rng.normal(size=(1, 16)), (n, 1))
    return texts, emb


def test_registry_names_are_real_metrics():
    known = {m for fam in FAMILIES for m in fam.metrics}
    for spec in METRICS:
        assert spec.name in known
        fam = next(f for f in FAMILIES if spec.name in f.metrics)
        assert (fam.metrics[spec.name] == HIGHER) == spec.higher_more_diverse, spec.name


@pytest.mark.parametrize("spec", METRICS, ids=lambda s: s.name)
def test_identical_samples_are_least_diverse(spec):
    same = spec.fn(*_set(False))
    varied = spec.fn(*_set(True))
    if spec.identical is not None:
        assert same == pytest.approx(spec.identical, abs=1e-9)
    assert (varied > same) if spec.higher_more_diverse else (varied < same)


@pytest.mark.parametrize("spec", METRICS, ids=lambda s: s.name)
def test_shuffling_changes_nothing(spec):
    texts, emb = _set(True, seed=5)
    perm = np.random.default_rng(1).permutation(len(texts))
    assert spec.fn([texts[i] for i in perm], emb[perm]) == pytest.approx(spec.fn(texts, emb),
                                                                         rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("spec", METRICS, ids=lambda s: s.name)
def test_bounds(spec):
    for seed in range(3):
        for varied in (True, False):
            v = spec.fn(*_set(varied, seed=seed))
            assert spec.bounds[0] - 1e-9 <= v <= spec.bounds[1] + 1e-9
