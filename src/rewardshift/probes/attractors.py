"""The attractor probe: does the tuned model fall back to the same few completions?

Mohammadi 2024 (arXiv 2406.05587) found "attractor states": an aligned model returns to the
same few completions even at temperature 1, where its base spreads out. Yang & Holtzman 2025
(arXiv 2506.17871) measure the same narrowing token by token: the branching factor
``BF = exp(mean next-token entropy)`` drops 2-5x after alignment. This probe does both.

Design
------
* **prompts**: short open-ended questions (:data:`QUESTIONS`: a random number, an animal,
  a joke, a one-line story, ...) in a frame a base model continues and a chat model answers
  (:data:`TEMPLATE`, ``"Q: ...\\nA:"``);
* **perturbations**: each question in four surface variants that keep its meaning
  (:func:`perturbations`: as written; final punctuation dropped; first letter lower-cased;
  "Please " prefixed). Prompt ids ``"<group>/v<k>"`` group the variants of one question
  (:meth:`AttractorProbe.prompt_group`): an attractor is a completion the model returns to
  whatever the wording;
* **temperatures** 0.5, 1.0 and 1.5: a base model's completions spread out as the temperature
  rises; an attractor holds at 1.5.

Statistics
----------
* **distinct completions** (NoveltyBench-style distinct classes, Zhang et al. 2025, arXiv
  2504.05228, who count classes among k = 10 samples): completions are clustered with
  average linkage and cut at a distance threshold -- cosine distance of sentence embeddings
  (``cluster_threshold``, 0.25, as :func:`rewardshift.metrics.semantic.cluster_stats`) when
  ``embed=True``, else word-set Jaccard distance (``lexical_threshold``, 0.5: completions
  sharing at least about half their words are one class). Counted per prompt group (all
  variants' completions together, ``distinct_per_group``) and per prompt
  (``distinct_per_prompt``, the k = n samples of one variant), with the largest cluster's
  share and whether it spans every variant of its group;
* **attractor rate**: the share of prompt groups whose largest cluster holds at least
  ``attractor_share`` (0.5) of the group's completions *and* contains completions of every
  variant;
* **next-token entropy and branching factor** from ``top_logprobs``, by
  :mod:`rewardshift.metrics.tokens`: entropy of the renormalised top-k distribution at each
  generated position, its mean by position, and ``BF = exp(mean)``. With a truncated k this is
  a *lower bound* on the full entropy: if the listed tokens are the k most likely, with mass
  ``P``, the full entropy ``H >= H_topk + log(1 / P) >= H_topk`` (split ``H`` by the grouping
  rule into top-k and tail, and bound both using that every tail token is no more likely than
  the least likely listed one). ``top_k_mass`` (the mean ``P``) is reported so the gap can be
  judged; compare models at equal k. Backends record ``top_logprobs`` under the model's own
  distribution (temperature 1) along the sampled path, so the headline BF uses the samples
  drawn at T = 1.0 (or the temperature closest to it).

Tuned against base, at every temperature both have: distinct completions per group (paired
permutation over prompt groups, Cohen's d_z), the largest-cluster share, the branching factor
(per-group mean entropy, paired permutation; the ratio in the verdict) and the text diversity
of :func:`rewardshift.measure.measure` per input (per prompt variant) and across inputs.

**Attractor verdict**: at the highest temperature both sources share, the tuned model has an
attractor when its distinct-completion count per prompt group is significantly lower than the
base's (p < 0.05) and its largest cluster still holds at least ``attractor_share`` of a
group's completions on average.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from rewardshift._exceptions import InputError
from rewardshift.measure import MeasureConfig
from rewardshift.probes import _stats as st
from rewardshift.probes._core import (
    Comparison,
    Prepared,
    check_positive_int,
    diversity,
    diversity_comparisons,
    diversity_summary,
    headline_diversity,
    make_comparison,
)
from rewardshift.probes.base import Analysis, Probe, split_by_source
from rewardshift.samples import Sample

__all__ = [
    "AttractorProbe",
    "QUESTIONS",
    "TEMPERATURES",
    "cluster_completions",
    "perturbations",
]

#: (group id, question): short open-ended questions with many good answers.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("number", "Pick a random number between 1 and 100."),
    ("animal", "Name a random animal."),
    ("color", "Name a color."),
    ("joke", "Tell me a joke."),
    ("dragon-story", "Write a one-sentence story about a dragon."),
    ("sea-poem", "Write a two-line poem about the sea."),
    ("cat-name", "Suggest a name for a pet cat."),
    ("city", "Name a city you would like to visit."),
    ("fact", "Tell me an interesting fact."),
    ("startup", "Give me an idea for a startup."),
)
#: Sampling temperatures: below, at and above the model's own distribution.
TEMPERATURES: tuple[float, ...] = (0.5, 1.0, 1.5)
#: The frame every question is asked in.
TEMPLATE = "Q: {question}\nA:"
_VARIANT_ID = re.compile(r"^(?P<group>.+)/v\d+$")


def perturbations(question: str) -> tuple[str, ...]:
    """Four surface variants of ``question`` with the same meaning.

    ``v0`` as written; ``v1`` final punctuation dropped; ``v2`` first letter lower-cased;
    ``v3`` "Please " prefixed (first letter lower-cased).

    Examples
    --------
    >>> perturbations("Name a color.")
    ('Name a color.', 'Name a color', 'name a color.', 'Please name a color.')
    """
    q = question.strip()
    if not q:
        raise InputError("perturbations: the question is empty")
    lower = q[0].lower() + q[1:]
    return q, q.rstrip(".!?"), lower, f"Please {lower}"


def _jaccard_distances(texts: Sequence[str]) -> np.ndarray:
    """Condensed word-set Jaccard distances (1 - |A & B| / |A | B|; two empty texts: 0)."""
    sets = [frozenset(re.findall(r"\w+", t.lower())) for t in texts]
    n = len(sets)
    out = np.empty(n * (n - 1) // 2)
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            union = len(sets[i] | sets[j])
            out[k] = 1.0 - len(sets[i] & sets[j]) / union if union else 0.0
            k += 1
    return out


def cluster_completions(texts: Sequence[str], *, embeddings: np.ndarray | None = None,
                        threshold: float | None = None) -> np.ndarray:
    """Cluster labels (``0 .. k-1``, by first appearance) of completions.

    Average-linkage agglomeration cut at ``threshold``: on the cosine distance of
    ``embeddings`` when given (default threshold 0.25, the same clusters as
    :func:`rewardshift.metrics.semantic.cluster_stats`), else on word-set Jaccard distance
    (default threshold 0.5).

    Examples
    --------
    >>> cluster_completions(["A cat.", "a cat", "The dog barked loudly."]).tolist()
    [0, 0, 1]
    """
    n = len(texts)
    if embeddings is not None and len(embeddings) != n:
        raise InputError(f"cluster_completions: {n} texts but {len(embeddings)} embeddings")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if embeddings is not None:
        t = 0.25 if threshold is None else threshold
        dist = np.clip(pdist(np.asarray(embeddings, dtype=np.float64), "cosine"), 0.0, 2.0)
    else:
        t = 0.5 if threshold is None else threshold
        dist = _jaccard_distances(texts)
    raw = fcluster(linkage(dist, method="average"), t=t, criterion="distance")
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(r), len(first)) for r in raw], dtype=np.int64)


@dataclass(frozen=True)
class _ByTemperature:
    """The samples of each source at each temperature, the temperatures of the pair, and
    (filled by the diversity stage) each ``(source, temperature)``'s statistics."""

    samples: dict[float, dict[str, list[Sample]]]
    common: list[float]
    described: dict[tuple[str, float], dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class AttractorProbe(Probe):
    """Completions across temperatures and prompt perturbations, clustered.

    Examples
    --------
    >>> probe = AttractorProbe()
    >>> len(probe.prompts()), probe.prompts()[1][0], probe.temperatures
    (40, 'number/v1', (0.5, 1.0, 1.5))
    >>> probe.prompt_group("number/v3")
    'number'
    """

    name: ClassVar[str] = "attractors"
    temperatures: tuple[float, ...] = field(default=TEMPERATURES, metadata={
        "help": "sampling temperatures; the highest decides the attractor verdict"})
    questions: tuple[tuple[str, str], ...] = field(default=QUESTIONS, metadata={
        "help": "(group id, question) pairs; each is asked in its four perturbations"})
    template: str = field(default=TEMPLATE, metadata={"help": "frame with a {question} slot"})
    embed: bool = field(default=True, metadata={
        "help": "cluster on sentence embeddings (False: word-set Jaccard, fast)"})
    cluster_threshold: float = field(default=0.25, metadata={
        "help": "cosine-distance cut of the embedding clusters"})
    lexical_threshold: float = field(default=0.5, metadata={
        "help": "Jaccard-distance cut of the lexical clusters"})
    attractor_share: float = field(default=0.5, metadata={
        "help": "largest-cluster share that, with fewer distinct completions, is an attractor"})
    max_positions: int = field(default=64, metadata={
        "help": "positions kept in the entropy-by-position table"})
    measure_config: MeasureConfig | None = field(default=None, metadata={
        "help": "settings of the text diversity (seed and embeddings are overridden)"})
    n_resamples: int = field(default=2000, metadata={"help": "permutations of the tests"})

    def __post_init__(self) -> None:
        if not self.temperatures or any(
                isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0
                or not math.isfinite(t) for t in self.temperatures):
            raise InputError(f"AttractorProbe.temperatures={self.temperatures!r} must be "
                             "finite numbers >= 0, at least one")
        ids = [g for g, _ in self.questions]
        if not ids or len(set(ids)) != len(ids) or any("/" in g for g in ids):
            raise InputError("AttractorProbe.questions needs unique group ids without '/', "
                             f"got {ids!r}")
        if "{question}" not in self.template:
            raise InputError("AttractorProbe.template needs a {question} slot")
        if not 0 < self.attractor_share <= 1:
            raise InputError(f"attractor_share={self.attractor_share} must be in (0, 1]")
        check_positive_int(self.max_positions, "AttractorProbe.max_positions")
        check_positive_int(self.n_resamples, "AttractorProbe.n_resamples")

    def prompts(self) -> list[tuple[str, str]]:
        """Every perturbation of every question: ids ``"<group>/v<k>"``."""
        return [(f"{g}/v{k}", self.template.format(question=v))
                for g, q in self.questions for k, v in enumerate(perturbations(q))]

    def prompt_group(self, prompt_id: str) -> str:
        """The question a prompt id belongs to (``"joke/v2"`` -> ``"joke"``); an id of
        another form is its own group."""
        m = _VARIANT_ID.match(prompt_id)
        return m.group("group") if m else prompt_id

    # ------------------------------------------------------------------ analyze hooks

    def read(self, prep: Prepared) -> _ByTemperature:
        """Group the samples by temperature (``meta["temperature"]``, which
        :func:`~rewardshift.probes.run_probe` sets; ``meta["prompt_group"]``, when present,
        overrides :meth:`prompt_group`).

        Raises
        ------
        InputError
            for a sample without a temperature, or base and tuned sampled at no common
            temperature.
        """
        by_t = self._by_temperature(prep)
        common = sorted(t for t, srcs in by_t.items()
                        if prep.base in srcs and prep.tuned in srcs)
        if prep.base is not None and not common:
            raise InputError(
                f"attractor probe: {prep.base!r} and {prep.tuned!r} share no temperature "
                f"({_temps(by_t, prep.base)} vs {_temps(by_t, prep.tuned)}); the samples are "
                "mismatched: sample both at the same temperatures")
        return _ByTemperature(by_t, common)

    def add_diversity(self, run: Analysis) -> None:
        """Per temperature: the text diversity, then each source's clusters and tokens."""
        prep, by_t = run.prep, run.data.samples
        run.tables = {src: {} for src in prep.order}
        for t in sorted(by_t):
            key = f"T={t:g}"
            sub = {s: v for s, v in by_t[t].items() if len(v) >= 2}
            for s in set(by_t[t]) - set(sub):
                run.notes.append(f"{s!r} has a single sample at {key}; skipped there")
            if not sub:
                continue
            pair = (prep.base, prep.tuned) if t in run.data.common else (None, None)
            tprep = Prepared(sub, *pair)
            res = diversity(tprep.all_samples(), tprep, self.measure_config, embed=self.embed,
                            seed=run.seed)
            run.diversity[key] = res.summary
            run.diversity_comparisons += diversity_comparisons(
                res.summary, prefix=f"{key}/", label_prefix=f"{key}: ")
            run.summary.update(diversity_summary(res.summary, prefix=f"{key}/"))
            for src, emb in split_by_source(res.embeddings, sub).items():
                d = self._describe(sub[src], emb)
                run.data.described[(src, t)] = d
                run.summary.update({f"{src}.{key}.{k}": v for k, v in d["summary"].items()})
                run.tables[src][key] = d["table"]

    def compare(self, run: Analysis) -> None:
        prep, described, common = run.prep, run.data.described, run.data.common
        n_groups = described[(prep.tuned, common[-1])]["summary"]["n_groups"]
        if n_groups < 6:
            run.notes.append(f"only {n_groups} prompt groups: the paired permutation test "
                             f"cannot reach p < 0.05 below 6 (its smallest p is "
                             f"2 / 2^{n_groups} = {2 / 2 ** n_groups:.3g})")
        comps, verdicts, extra = self._compare(prep, described, common, run.seed)
        run.comparisons += comps
        run.verdicts += verdicts
        run.summary.update(extra)

    def headline(self, run: Analysis) -> list[str]:
        """The text diversity's verdicts at the highest temperature both sources share."""
        if run.prep.base is None:
            return []
        t_max = f"T={run.data.common[-1]:g}/"
        return headline_diversity([c for c in run.diversity_comparisons
                                   if c.metric.startswith(t_max)], prefix=t_max)

    def config(self, run: Analysis) -> dict[str, Any]:
        return {"seed": run.seed, "temperatures": sorted(run.data.samples),
                "embed": self.embed,
                "clustering": "embedding cosine" if self.embed else "word-set Jaccard",
                "threshold": self.cluster_threshold if self.embed else self.lexical_threshold,
                "attractor_share": self.attractor_share}

    # ------------------------------------------------------------------ grouping

    def _by_temperature(self, prep: Prepared) -> dict[float, dict[str, list[Sample]]]:
        by_t: dict[float, dict[str, list[Sample]]] = {}
        for src, ss in prep.by_source.items():
            for i, s in enumerate(ss):
                t = s.meta.get("temperature")
                if isinstance(t, bool) or not isinstance(t, (int, float)) \
                        or not math.isfinite(t):
                    raise InputError(
                        f"attractor probe: source {src!r}, sample {i} has meta['temperature']"
                        f"={t!r}; every sample needs its sampling temperature (run_probe sets "
                        "it; for samples made elsewhere set meta['temperature'])")
                by_t.setdefault(float(t), {}).setdefault(src, []).append(s)
        return by_t

    def _group(self, s: Sample) -> str:
        g = s.meta.get("prompt_group")
        return str(g) if g is not None else self.prompt_group(s.prompt_id)

    # ------------------------------------------------------------------ per source

    def _labels(self, texts: list[str], emb: np.ndarray | None) -> np.ndarray:
        if emb is not None:
            return cluster_completions(texts, embeddings=emb, threshold=self.cluster_threshold)
        return cluster_completions(texts, threshold=self.lexical_threshold)

    def _describe(self, samples: Sequence[Sample], emb: np.ndarray | None) -> dict[str, Any]:
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(self._group(s), []).append(i)
        rows, distinct, largest, spans = [], {}, {}, 0
        per_prompt: list[float] = []
        for g, idx in groups.items():
            texts = [samples[i].text for i in idx]
            labels = self._labels(texts, None if emb is None else emb[idx])
            sizes = np.bincount(labels)
            top = int(np.argmax(sizes))
            variants = [samples[i].prompt_id for i in idx]
            in_top = {v for v, lab in zip(variants, labels, strict=True) if lab == top}
            spans_all = len(set(variants)) >= 2 and in_top == set(variants)
            distinct[g], largest[g] = float(sizes.size), float(sizes[top] / len(idx))
            if spans_all and largest[g] >= self.attractor_share:
                spans += 1
            for pid in dict.fromkeys(variants):
                sub = [i for i, v in zip(idx, variants, strict=True) if v == pid]
                sub_emb = None if emb is None else emb[sub]
                per_prompt.append(float(np.unique(self._labels(
                    [samples[i].text for i in sub], sub_emb)).size))
            order = np.argsort(-sizes, kind="stable")[:3]
            rows.append({"group": g, "n": len(idx), "n_clusters": int(sizes.size),
                         "largest_share": largest[g], "spans_all_variants": spans_all,
                         "top_completions": [
                             {"share": float(sizes[c] / len(idx)),
                              "text": texts[int(np.argmax(labels == c))]} for c in order]})
        out: dict[str, Any] = {
            "n_samples": len(samples), "n_groups": len(groups),
            "distinct_per_group": float(np.mean(list(distinct.values()))),
            "distinct_per_prompt": float(np.mean(per_prompt)),
            "largest_cluster_share": float(np.mean(list(largest.values()))),
            "attractor_rate": spans / len(groups)}
        table: dict[str, Any] = {"groups": rows}
        units = {"distinct": distinct, "largest": largest}
        tokens = _token_stats(samples, [self._group(s) for s in samples], self.max_positions)
        if tokens is not None:
            out.update(tokens["summary"])
            table["entropy_by_position"] = tokens["by_position"]
            units["entropy"] = tokens["units"]
        return {"summary": out, "table": table, "units": units}

    # ------------------------------------------------------------------ comparisons

    def _compare(self, prep: Prepared, described: Mapping[tuple[str, float], dict[str, Any]],
                 common: list[float], seed: int
                 ) -> tuple[list[Comparison], list[str], dict[str, Any]]:
        b, t = prep.pair
        comps: list[Comparison] = []
        distinct: dict[float, Comparison] = {}
        bf: dict[float, Comparison] = {}
        for temp in common:
            key = f"T={temp:g}"
            da, db = described[(b, temp)], described[(t, temp)]
            for unit, metric, label, direction in (
                    ("distinct", "distinct_completions", "distinct completions per prompt "
                     "group", st.HIGHER),
                    ("largest", "largest_cluster_share", "largest-cluster share",
                     st.LOWER)):
                m0, m1, p, d, kind, test = st.compare_units(
                    da["units"][unit], db["units"][unit], n_resamples=self.n_resamples,
                    seed=seed)
                c = make_comparison(f"{key}/{metric}", "per_input", m0, m1, p_value=p,
                                    effect_size=d, effect_size_kind=kind, test=test,
                                    direction=direction, label=f"{key}: {label}")
                comps.append(c)
                if unit == "distinct":
                    distinct[temp] = c
            if "entropy" in da["units"] and "entropy" in db["units"]:
                _, _, p, d, kind, test = st.compare_units(
                    da["units"]["entropy"], db["units"]["entropy"],
                    n_resamples=self.n_resamples, seed=seed)
                c = make_comparison(
                    f"{key}/branching_factor", "pooled", da["summary"]["branching_factor"],
                    db["summary"]["branching_factor"], p_value=p, effect_size=d,
                    effect_size_kind=kind, test=test + " (per-group mean entropy)",
                    kind="ratio", label=f"{key}: branching factor")
                comps.append(c)
                bf[temp] = c
        verdicts, extra = self._attractor_verdict(prep, described, common, distinct)
        if bf:
            ref = min(bf, key=lambda x: (abs(x - 1.0), x))
            verdicts.append(bf[ref].verdict)
        return comps, verdicts, extra

    def _attractor_verdict(self, prep: Prepared, described: Mapping[tuple[str, float], Any],
                           common: list[float], distinct: Mapping[float, Comparison]
                           ) -> tuple[list[str], dict[str, Any]]:
        b, t = prep.pair
        hi = common[-1]
        c = distinct[hi]
        share_t = described[(t, hi)]["summary"]["largest_cluster_share"]
        n_group = described[(t, hi)]["summary"]["n_samples"] / \
            described[(t, hi)]["summary"]["n_groups"]
        fewer = c.base is not None and c.tuned is not None and c.tuned < c.base
        attractor = bool(fewer and c.p_value is not None and c.p_value < st.ALPHA
                         and share_t >= self.attractor_share)
        rel = f"{abs(c.relative_change) * 100:.0f}% {'fewer' if fewer else 'more'}" \
            if c.relative_change is not None else "no change"
        head = ("attractor: " if attractor else "no attractor detected: ")
        text = (f"{head}at T={hi:g} {t!r} gives {c.tuned:.1f} distinct completions per prompt "
                f"group (of ~{n_group:.0f}) against {c.base:.1f} for {b!r} ({rel}, "
                f"{st.format_p(c.p_value)}); its largest cluster holds {share_t:.0%} of a "
                "group's completions")
        verdicts = [text]
        if len(common) >= 2:
            lo = common[0]
            verdicts.append(
                f"from T={lo:g} to T={hi:g} distinct completions per prompt group go "
                f"{distinct[lo].base:.1f} → {distinct[hi].base:.1f} for {b!r} and "
                f"{distinct[lo].tuned:.1f} → {distinct[hi].tuned:.1f} for {t!r}")
        return verdicts, {"attractor": attractor, "attractor_temperature": hi}

    def definitions(self) -> dict[str, str]:
        clus = (f"cosine distance of sentence embeddings cut at {self.cluster_threshold}"
                if self.embed else f"word-set Jaccard distance cut at {self.lexical_threshold}")
        return {
            "distinct_per_group": "clusters among all completions of a prompt group (every "
                                  f"perturbation), average linkage on {clus}; mean over groups;"
                                  " ↑ more diverse (NoveltyBench-style distinct classes)",
            "distinct_per_prompt": "clusters among the n completions of one prompt variant; "
                                   "mean over prompts; ↑ more diverse",
            "largest_cluster_share": "share of a group's completions in its largest cluster; "
                                     "mean over groups; ↓ more diverse",
            "attractor_rate": f"share of groups whose largest cluster holds >= "
                              f"{self.attractor_share:g} of the completions and spans every "
                              "variant; ↓ more diverse",
            "next_token_entropy": "mean entropy (nats) of the renormalised top-k next-token "
                                  "distribution over generated positions: a lower bound on "
                                  "the full entropy; ↑ more diverse",
            "branching_factor": "exp(mean next-token entropy) (Yang & Holtzman 2025); ↑ more "
                                "diverse",
            "top_k_mass": "mean probability mass of the listed top-k tokens per position (1 = "
                          "the entropy is exact)",
        }


def _temps(by_t: Mapping[float, Mapping[str, Any]], src: str | None) -> list[float]:
    return sorted(t for t, srcs in by_t.items() if src in srcs)


def _token_stats(samples: Sequence[Sample], groups: Sequence[str], max_positions: int
                 ) -> dict[str, Any] | None:
    """Next-token entropy statistics, or ``None`` unless every sample has top_logprobs."""
    tops = [s.top_logprobs for s in samples if s.top_logprobs]
    if not samples or len(tops) < len(samples):
        return None
    from rewardshift.metrics.tokens import entropy_by_position, position_entropies

    ents = [position_entropies(tp) for tp in tops]
    pooled = np.concatenate(ents)
    mass = np.array([sum(math.exp(v) for v in pos.values()) for tp in tops for pos in tp])
    by_group: dict[str, list[np.ndarray]] = {}
    for g, e in zip(groups, ents, strict=True):
        by_group.setdefault(g, []).append(e)
    units = {g: float(np.concatenate(v).mean()) for g, v in by_group.items()
             if sum(x.size for x in v)}
    h = float(pooled.mean())
    return {"summary": {"next_token_entropy": h, "branching_factor": math.exp(h),
                        "top_k_mass": float(mass.mean())},
            "by_position": entropy_by_position(tops, max_len=max_positions).tolist(),
            "units": units}
