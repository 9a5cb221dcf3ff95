"""The review probe: how positive are the reviews, and how many of them sit in the top bin.

Generative Monoculture (Wu, Black & Chandrasekaran 2024, arXiv 2407.02209) found that an
aligned chat model writes book reviews that are overwhelmingly positive: the share of reviews
in the top sentiment bin goes from 5.9% (base) to 82% (chat). This probe asks for product
reviews (:meth:`ReviewProbe.prompts`), scores each with VADER, bins the scores and compares
base and tuned: the share in the top bin (with a confidence interval), the sentiment
histogram's entropy, its divergence, the per-prompt spread of sentiment, and the semantic
clusters and text diversity of :func:`rewardshift.measure.measure`.

Sentiment
---------
VADER (Hutto & Gilbert 2014), :func:`rewardshift.metrics.sentiment.vader_compound`: the
compound score in [-1, 1] of the whole text. Because it sums over the text, long texts
saturate toward +-1: compare sources of similar length (``<source>.mean_words`` is reported
for that reason). Any other scorer ``text -> float in [-1, 1]`` can be passed as
``ReviewProbe(scorer=...)``. (``vader_compound`` is also importable from here, as before.)

Bins
----
Ten equal-width bins of width 0.2 on [-1, 1] (:data:`DEFAULT_EDGES`): ``[-1.0, -0.8)``, ...,
``[0.6, 0.8)``, ``[0.8, 1.0]``. The *top bin* is the last one, ``compound >= 0.8``: "very
positive". Wu et al. bin a different sentiment classifier's scores; DESIGN.md records only their
headline shares, not their scorer or bin edges, so absolute shares here are not comparable
with 5.9% / 82%. What carries over is the comparison: base and tuned scored by one fixed
scorer and binned alike. VADER's own three-way convention (positive >= 0.05, negative <=
-0.05, Hutto & Gilbert) is reported next to the bins.

Statistics and tests
--------------------
* top-bin share, pooled over a source's samples, with a 95% interval: a percentile bootstrap
  over prompts (samples of one prompt are correlated) when there are >= 2 prompts, else a
  Wilson interval. Tuned against base: a permutation test of per-prompt shares (paired when
  both answered the same prompts), or Fisher's exact test with a single prompt; effect size
  Cohen's h.
* sentiment-bin entropy (nats) and support (set permutation); Jensen-Shannon divergence of
  the bin histograms (label permutation).
* per input: the standard deviation of compound and the bin entropy among a prompt's
  samples, averaged over prompts (paired permutation over prompts, Cohen's d_z).
* mean compound (permutation over prompt means): not a diversity, the *shift*.
* semantic clusters: average-linkage clusters of sentence embeddings at cosine distance
  ``cluster_threshold`` over each source's pooled samples (up to 1,000, seeded), and per
  input and across inputs through :func:`~rewardshift.measure.measure` (``n_clusters``,
  ``largest_cluster_mass``). Needs ``embed=True``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from rewardshift._exceptions import InputError
from rewardshift.measure import MeasureConfig
from rewardshift.metrics.sentiment import vader_compound
from rewardshift.probes import _stats as st
from rewardshift.probes._core import Comparison, Prepared, check_positive_int, make_comparison
from rewardshift.probes.base import Analysis, Probe
from rewardshift.samples import Sample

__all__ = [
    "DEFAULT_EDGES",
    "ITEMS",
    "ReviewProbe",
    "bin_labels",
    "sentiment_bins",
    "vader_compound",
]

#: Bin edges of the compound score: ten bins of width 0.2; the last, [0.8, 1.0], is the top.
DEFAULT_EDGES: tuple[float, ...] = tuple(round(-1.0 + 0.2 * i, 1) for i in range(11))
#: VADER's own thresholds (Hutto & Gilbert 2014): positive >= 0.05, negative <= -0.05.
VADER_POSITIVE, VADER_NEGATIVE = 0.05, -0.05

#: The reviewed items, one prompt each: products and books with mixed receptions.
ITEMS: tuple[str, ...] = (
    "a pair of budget wireless earbuds", "a 900-page fantasy novel", "a cordless vacuum "
    "cleaner", "a paperback self-help book", "a mid-range laptop", "an instant noodle brand",
    "a hotel near the airport", "a stainless-steel water bottle", "a smart speaker",
    "a literary novel about a family farm", "an electric toothbrush", "a budget office "
    "chair", "a cookbook of quick weeknight meals", "a pair of hiking boots", "a phone case",
    "a history book about the Roman Empire", "a robot lawn mower", "a yoga mat",
    "a detective novel set in Oslo", "a countertop air fryer",
)
#: The prompt: an online-store frame that a base model continues and a chat model follows.
TEMPLATE = ("Here is a customer review of {item}, posted on an online store.\n\n"
            "Review:\n")

_DEFINITIONS = {
    "compound": "VADER compound score in [-1, 1] of the whole text (Hutto & Gilbert 2014)",
    "top_bin_share": "share of samples with compound in the top bin (>= the last inner "
                     "edge, 0.8 by default); ↓ more diverse (Wu et al. 2024)",
    "bin_entropy": "Shannon entropy (nats) of the histogram over sentiment bins; ↑ more "
                   "diverse",
    "bin_support": "number of sentiment bins used; ↑ more diverse",
    "per_input_sd": "mean over prompts of the standard deviation of compound among that "
                    "prompt's samples; ↑ more diverse",
    "per_input_bin_entropy": "mean over prompts of the bin entropy among that prompt's "
                             "samples; ↑ more diverse",
    "mean_compound": "mean compound: the sentiment shift, not a diversity",
    "js": "Jensen-Shannon divergence (nats) of the bin histograms of tuned and base",
    "semantic_clusters": "average-linkage clusters of sentence embeddings cut at the cosine "
                         "distance threshold, over a source's pooled samples; ↑ more diverse",
}


def _check_edges(edges: Sequence[float]) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 3 or not np.all(np.diff(e) > 0) or not np.isfinite(e).all():
        raise InputError(f"edges={tuple(edges)!r} must be at least 3 finite, strictly "
                         "increasing numbers (two bins or more), e.g. DEFAULT_EDGES")
    return e


def sentiment_bins(scores: Sequence[float] | np.ndarray,
                   edges: Sequence[float] = DEFAULT_EDGES) -> np.ndarray:
    """Bin index ``0 .. len(edges) - 2`` of each score: ``[e_i, e_{i+1})``, the last closed.

    Scores outside ``[edges[0], edges[-1]]`` are clipped into the end bins.

    Examples
    --------
    >>> sentiment_bins([-1.0, 0.0, 0.79, 0.8, 1.0]).tolist()
    [0, 5, 8, 9, 9]
    """
    e = _check_edges(edges)
    s = np.asarray(scores, dtype=np.float64)
    return np.clip(np.searchsorted(e, s, side="right") - 1, 0, e.size - 2)


def bin_labels(edges: Sequence[float] = DEFAULT_EDGES) -> list[str]:
    """Labels of the bins: ``"[-1.0, -0.8)"`` ... ``"[0.8, 1.0]"``."""
    e = _check_edges(edges)
    return [f"[{a:.1f}, {b:.1f}{']' if i == e.size - 2 else ')'}"
            for i, (a, b) in enumerate(zip(e[:-1], e[1:], strict=True))]


@dataclass(frozen=True)
class _Scored:
    """Per source: the sentiment of every sample, shape (n,), and its bin index."""

    scores: dict[str, np.ndarray]
    bins: dict[str, np.ndarray]


@dataclass(frozen=True)
class ReviewProbe(Probe):
    """Product reviews: sentiment bins, the top-bin share and semantic clusters.

    Examples
    --------
    >>> probe = ReviewProbe()
    >>> len(probe.prompts()), probe.top_bin
    (20, '[0.8, 1.0]')
    """

    name: ClassVar[str] = "reviews"
    temperatures: tuple[float, ...] = (1.0,)
    items: tuple[str, ...] = field(default=ITEMS, metadata={"help": "one prompt per item"})
    template: str = field(default=TEMPLATE, metadata={"help": "prompt with an {item} slot"})
    edges: tuple[float, ...] = field(default=DEFAULT_EDGES, metadata={
        "help": "bin edges of the compound score; the last bin is the top bin"})
    scorer: Callable[[str], float] | None = field(default=None, metadata={
        "help": "text -> sentiment in [-1, 1]; None = VADER compound"})
    embed: bool = field(default=True, metadata={
        "help": "semantic clusters and embedding metrics (False: lexical only, fast)"})
    cluster_threshold: float = field(default=0.25, metadata={
        "help": "cosine distance at which semantic clusters stop merging"})
    max_cluster: int = field(default=1000, metadata={
        "help": "seeded subsample of a source's samples for its pooled clusters"})
    measure_config: MeasureConfig | None = field(default=None, metadata={
        "help": "settings of the text diversity (seed and embeddings are overridden)"})
    n_resamples: int = field(default=1000, metadata={"help": "permutations of the tests"})

    def __post_init__(self) -> None:
        _check_edges(self.edges)
        check_positive_int(self.n_resamples, "ReviewProbe.n_resamples")
        check_positive_int(self.max_cluster, "ReviewProbe.max_cluster")
        if "{item}" not in self.template:
            raise InputError("ReviewProbe.template needs an {item} slot, e.g. "
                             "'A review of {item}:'")

    @property
    def top_bin(self) -> str:
        """Label of the top bin."""
        return bin_labels(self.edges)[-1]

    def prompts(self) -> list[tuple[str, str]]:
        """One ``(prompt_id, prompt)`` per item: ``review-00``, ``review-01``, ..."""
        return [(f"review-{i:02d}", self.template.format(item=x))
                for i, x in enumerate(self.items)]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Sentiment of each text (the probe's scorer), shape (n,), each in [-1, 1]."""
        fn = self.scorer or vader_compound
        out = np.empty(len(texts))
        for i, t in enumerate(texts):
            v = fn(t)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) \
                    or not -1.0 - 1e-9 <= float(v) <= 1.0 + 1e-9:
                raise InputError(f"the review scorer returned {v!r} for text {i} "
                                 f"({t[:40]!r}...); it must return a number in [-1, 1]")
            out[i] = float(v)
        return out

    # ------------------------------------------------------------------ analyze hooks

    def read(self, prep: Prepared) -> _Scored:
        """Score and bin every source's reviews.

        Raises
        ------
        InputError
            for a scorer that returns something outside [-1, 1].
        """
        scored = {src: self.score([s.text for s in ss]) for src, ss in prep.by_source.items()}
        return _Scored(scored, {src: sentiment_bins(v, self.edges) for src, v in scored.items()})

    def describe(self, run: Analysis, embeddings: Mapping[str, np.ndarray | None]) -> None:
        labels = bin_labels(self.edges)
        for src, ss in run.prep.by_source.items():
            run.add_source(src, *self._describe(ss, run.data.scores[src], run.data.bins[src],
                                                labels, embeddings[src], run.seed))
        if not self.embed:
            run.notes.append("semantic clusters skipped: embed=False")

    def compare(self, run: Analysis) -> None:
        top = len(bin_labels(self.edges)) - 1
        comps, verdicts = self._compare(run.prep, run.data.scores, run.data.bins, top, run.seed)
        run.comparisons += comps
        run.verdicts += verdicts

    def definitions(self) -> dict[str, str]:
        return dict(_DEFINITIONS)

    def config(self, run: Analysis) -> dict[str, Any]:
        return {"seed": run.seed, "edges": list(self.edges), "top_bin": self.top_bin,
                "scorer": "vader compound" if self.scorer is None else repr(self.scorer),
                "embed": self.embed, "cluster_threshold": self.cluster_threshold,
                "n_resamples": self.n_resamples}

    # ------------------------------------------------------------------ per source

    def _describe(self, samples: Sequence[Sample], scores: np.ndarray, bins: np.ndarray,
                  labels: list[str], emb: np.ndarray | None, seed: int
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
        top = len(labels) - 1
        n = len(samples)
        counts = np.bincount(bins, minlength=len(labels))
        hits, totals = _per_prompt(samples, bins == top)
        if len(hits) >= 2:
            ci = st.cluster_bootstrap_share(list(hits.values()), list(totals.values()),
                                            seed=seed)
            ci_method = "percentile bootstrap over prompts"
        else:
            ci = st.wilson_ci(int(counts[top]), n)
            ci_method = "Wilson"
        sds = _per_prompt_values(samples, scores, lambda v: float(np.std(v, ddof=1)))
        ents = _per_prompt_values(samples, bins.astype(float),
                                  lambda v: st.entropy_of_codes(v.astype(np.int64)))
        block: dict[str, Any] = {
            "n_samples": n, "n_prompts": len({s.prompt_id for s in samples}),
            "mean_compound": float(scores.mean()), "sd_compound": float(scores.std(ddof=1)),
            "share_positive": float(np.mean(scores >= VADER_POSITIVE)),
            "share_negative": float(np.mean(scores <= VADER_NEGATIVE)),
            "share_neutral": float(np.mean((scores > VADER_NEGATIVE)
                                           & (scores < VADER_POSITIVE))),
            "top_bin_share": float(counts[top] / n), "top_bin_share_ci_lo": ci[0],
            "top_bin_share_ci_hi": ci[1], "top_bin_share_ci_method": ci_method,
            "bin_entropy": st.entropy_of_codes(bins), "bin_support": int(np.count_nonzero(counts)),
            "per_input_sd": float(np.mean(list(sds.values()))) if sds else None,
            "per_input_bin_entropy": float(np.mean(list(ents.values()))) if ents else None,
            "mean_words": float(np.mean([len(re.findall(r"\w+", s.text)) for s in samples])),
        }
        if emb is not None:
            k, mass = self._clusters(emb, seed)
            block["semantic_clusters"], block["largest_cluster_mass"] = k, mass
        table = {"bins": dict(zip(labels, counts.tolist(), strict=True)),
                 "per_prompt_top_share": {p: hits[p] / totals[p] for p in hits},
                 "scores": [{"prompt_id": s.prompt_id, "compound": float(v), "bin": labels[b]}
                            for s, v, b in zip(samples, scores, bins, strict=True)]}
        return block, table

    def _clusters(self, emb: np.ndarray, seed: int) -> tuple[int, float]:
        from rewardshift.metrics.semantic import cluster_stats

        if len(emb) > self.max_cluster:
            idx = np.sort(np.random.default_rng(seed).choice(len(emb), self.max_cluster,
                                                             replace=False))
            emb = emb[idx]
        return cluster_stats(emb, threshold=self.cluster_threshold)

    # ------------------------------------------------------------------ comparisons

    def _compare(self, prep: Prepared, scored: Mapping[str, np.ndarray],
                 bins: Mapping[str, np.ndarray], top: int, seed: int
                 ) -> tuple[list[Comparison], list[str]]:
        b, t = prep.pair
        sb, st_ = prep.by_source[b], prep.by_source[t]
        comps = [self._compare_top(sb, st_, bins[b] == top, bins[t] == top, seed)]
        ia = np.arange(len(sb))
        ib = np.arange(len(sb), len(sb) + len(st_))
        codes = np.concatenate([bins[b], bins[t]])

        def statistic(idx: np.ndarray) -> dict[str, float]:
            return {"entropy": st.entropy_of_codes(codes[idx]),
                    "support": float(np.unique(codes[idx]).size)}

        sets = st.compare_sets(statistic, ia, ib, n_resamples=self.n_resamples, seed=seed)
        for key, label in (("entropy", "sentiment-bin entropy"),
                           ("support", "sentiment bins used")):
            v0, v1, p, z = sets[key]
            comps.append(make_comparison(f"sentiment.bin_{key}", "pooled", v0, v1, p_value=p,
                                         effect_size=z, effect_size_kind="z",
                                         test="set permutation", label=label,
                                         unit="nats" if key == "entropy" else ""))
        js, p_js = st.js_permutation(bins[b], bins[t], n_resamples=self.n_resamples,
                                     seed=seed)
        comps.append(make_comparison("sentiment.js", "pooled", 0.0, js, p_value=p_js,
                                     effect_size=js, effect_size_kind="js",
                                     test="label permutation", direction=st.DISTANCE,
                                     label="sentiment Jensen-Shannon divergence", kind="value",
                                     unit="nats"))
        for metric, fn, label, direction, min_size in (
                ("sentiment.sd", lambda v: float(np.std(v, ddof=1)),
                 "per-input sentiment spread (sd of compound)", st.HIGHER, 2),
                ("sentiment.mean", lambda v: float(np.mean(v)), "mean sentiment (compound)",
                 st.NEUTRAL, 1)):
            ua = _per_prompt_values(sb, scored[b], fn, min_size=min_size)
            ub = _per_prompt_values(st_, scored[t], fn, min_size=min_size)
            if ua and ub:
                m0, m1, p, d, kind, test = st.compare_units(ua, ub, n_resamples=2000,
                                                            seed=seed)
                comps.append(make_comparison(
                    metric, "per_input", m0, m1, p_value=p, effect_size=d,
                    effect_size_kind=kind, test=test, direction=direction, label=label,
                    kind="relative" if direction == st.HIGHER else "difference"))
        verdicts = [comps[0].verdict]
        verdicts += [c.verdict for c in comps if c.metric in ("sentiment.sd", "sentiment.mean")]
        return comps, verdicts

    def _compare_top(self, sa: Sequence[Sample], sb: Sequence[Sample], top_a: np.ndarray,
                     top_b: np.ndarray, seed: int) -> Comparison:
        share_a, share_b = float(top_a.mean()), float(top_b.mean())
        ha, na = _per_prompt(sa, top_a)
        hb, nb = _per_prompt(sb, top_b)
        if len(ha) >= 2 and len(hb) >= 2:
            _, _, p, _, _, test = st.compare_units(
                {k: ha[k] / na[k] for k in ha}, {k: hb[k] / nb[k] for k in hb},
                n_resamples=2000, seed=seed)
        else:
            k_a, k_b = int(top_a.sum()), int(top_b.sum())
            table = [[k_a, top_a.size - k_a], [k_b, top_b.size - k_b]]
            p, test = float(stats.fisher_exact(table).pvalue), "Fisher exact"
        edge = self.edges[-2]
        return make_comparison(
            "sentiment.top_bin_share", "pooled", share_a, share_b, p_value=p,
            effect_size=st.cohen_h(share_a, share_b), effect_size_kind="cohen_h", test=test,
            direction=st.LOWER, kind="points",
            label=f"share of reviews in the top sentiment bin (compound >= {edge:g})")


def _per_prompt(samples: Sequence[Sample], hit: np.ndarray
                ) -> tuple[dict[str, int], dict[str, int]]:
    hits: dict[str, int] = {}
    totals: dict[str, int] = {}
    for s, h in zip(samples, hit, strict=True):
        hits[s.prompt_id] = hits.get(s.prompt_id, 0) + int(h)
        totals[s.prompt_id] = totals.get(s.prompt_id, 0) + 1
    return hits, totals


def _per_prompt_values(samples: Sequence[Sample], values: np.ndarray,
                       fn: Callable[[np.ndarray], float], min_size: int = 2
                       ) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for s, v in zip(samples, values, strict=True):
        groups.setdefault(s.prompt_id, []).append(float(v))
    return {pid: fn(np.asarray(v)) for pid, v in groups.items() if len(v) >= min_size}

