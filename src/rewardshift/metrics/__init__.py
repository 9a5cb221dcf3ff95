"""Diversity metrics: pure functions of generated samples.

Modules, each one family of definitions (their docstrings give formula and reference):

* :mod:`~rewardshift.metrics.lexical` — distinct-n, n-gram diversity, EAD, self-BLEU,
  compression ratio, ROUGE-L homogenization (token lists in, numbers out).
* :mod:`~rewardshift.metrics.semantic` — embedding diversity, Vendi scores, clusters,
  remote-clique, chamfer distance (embedding matrices in).
* :mod:`~rewardshift.metrics.embed` — sentence embeddings (the only module that loads a model).
* :mod:`~rewardshift.metrics.tokens` — next-token entropy and branching factor.
* :mod:`~rewardshift.metrics.distribution` — histograms, entropy, support, KL / JS / χ², coverage.
* :mod:`~rewardshift.metrics.aggregate` — per-input / across-input scopes, intervals, tests.

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
