"""Diversity metrics: pure functions of generated samples.

Modules, each one family of definitions (their docstrings give formula and reference):

* :mod:`~rewardshift.metrics.lexical` — distinct-n, n-gram diversity, EAD, self-BLEU,
  compression ratio, ROUGE-L homogenization (token lists in, numbers out).
* :mod:`~rewardshift.metrics.ngrams` — the n-gram engine: exact integer ids of every n-gram,
  whole-set and subset counts (what lexical's n-gram metrics and self-BLEU build on).
* :mod:`~rewardshift.metrics.semantic` — embedding diversity, Vendi scores, clusters,
  remote-clique, chamfer distance (embedding matrices in).
* :mod:`~rewardshift.metrics.embed` — sentence embeddings (the only module that loads a model).
* :mod:`~rewardshift.metrics.images` — pixel features; Fréchet distance, precision / recall,
  density / coverage and Vendi diversity of image feature matrices.
* :mod:`~rewardshift.metrics.tokens` — next-token entropy and branching factor.
* :mod:`~rewardshift.metrics.distribution` — histograms, entropy, support, KL / JS / χ², coverage.
* :mod:`~rewardshift.metrics.aggregate` — per-input / across-input scopes, the quality mask.
* :mod:`~rewardshift.metrics.stats` — every interval, permutation test, effect size, JS / KL
  divergence, p-value text and direction constant, defined once (re-exported here).

Which way each metric points ("↑": higher is more diverse; "↓": higher is *less* diverse):

====================================  ===  ====================================  ===
distinct_n, ngram_diversity, ead       ↑   self_bleu_4                            ↓
embedding_diversity, vendi_q*          ↑   compression_ratio_gzip / _xz           ↓
remote_clique, chamfer_distance        ↑   homogenization_rougel                  ↓
n_clusters                             ↑   largest_cluster_mass                   ↓
next_token_entropy, branching_factor   ↑
====================================  ===  ====================================  ===

:data:`rewardshift.measure.FAMILIES` holds the same directions as data.
"""

# The statistics of rewardshift.metrics.stats are importable from here too, loaded on first
# use (PEP 562) so that importing one metric module does not pull in scipy.stats.
__all__ = [
    "DIRECTIONS", "DISTANCE", "HIGHER", "LOWER", "NEUTRAL", "bootstrap_ci", "bootstrap_mean_ci",
    "bounded_normal_ci", "cluster_bootstrap_share", "cohen_h", "cohens_d", "format_p", "half_sample_se",
    "jensen_shannon", "js_permutation", "kullback_leibler", "normal_ci", "permutation_test",
    "permutation_test_sets", "permutation_test_values", "wilson_ci",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        from rewardshift.metrics import stats

        return getattr(stats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
