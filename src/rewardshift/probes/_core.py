"""What every probe shares: the result record, input checks, diversity helpers, run_probe.

A *probe* (:class:`~rewardshift.probes.base.Probe`) is two things:

1. a prompt set: ``prompts() -> [(prompt_id, prompt), ...]`` and the ``temperatures`` to
   sample each prompt at (``(1.0,)`` for all but the attractor probe);
2. a pure analysis: ``analyze(samples_by_source, *, seed, base, tuned) -> ProbeResult``,
   which knows nothing of models -- samples in, numbers and verdicts out.

:func:`run_probe` joins them to generation backends given as plain callables
``generate(prompts, n, temperature, seed) -> list[Sample]`` (one per source), so probes depend
on no model library.

Every probe reports the per-input and across-input diversity of :func:`rewardshift.measure.
measure` (the metrics of issue 2) next to its own statistics, in ``ProbeResult.diversity``
and as comparisons with scope ``"per_input"`` / ``"across_input"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.measure import MeasureConfig, MeasureResult, measure
from rewardshift.probes._stats import HIGHER, describe_change
from rewardshift.samples import Sample

if TYPE_CHECKING:
    from rewardshift.probes.base import Probe

#: ``generate(prompts, n, temperature, seed) -> list[Sample]``: ``n`` samples of every
#: ``(prompt_id, prompt)`` pair at ``temperature``, seeded.
GenerateFn = Callable[[list[tuple[str, str]], int, float, int], list[Sample]]

#: Diversity metrics of :func:`~rewardshift.measure.measure` turned into headline verdicts,
#: in order of preference (the first one present is used, in both scopes).
HEADLINE_DIVERSITY = ("embedding_diversity", "distinct_2")


@dataclass(frozen=True)
class Comparison:
    """One tuned-versus-base comparison.

    Attributes
    ----------
    metric : what is compared (``"nationality.entropy"``, ``"embedding_diversity"``, ...).
    scope : ``"per_input"`` (among the samples of one prompt, averaged over prompts),
        ``"across_input"`` (one sample per prompt, :func:`~rewardshift.measure.measure`) or
        ``"pooled"`` (all samples of a source together).
    base, tuned : the two values.
    p_value : two-sided p-value of ``test`` (``None`` when it could not be run).
    effect_size, effect_size_kind : ``cohen_d`` / ``cohen_dz`` (per prompt), ``z`` (set
        statistics), ``cohen_h`` (proportions), ``ratio``, or ``None``.
    test : the test used (see :mod:`rewardshift.probes._stats`).
    direction : ``"higher_more_diverse"``, ``"lower_more_diverse"`` or ``"distance"``.
    verdict : one plain-language sentence.
    """

    metric: str
    scope: str
    base: float | None
    tuned: float | None
    p_value: float | None
    effect_size: float | None
    effect_size_kind: str | None
    test: str
    direction: str
    verdict: str

    @property
    def change(self) -> float | None:
        """``tuned - base``."""
        if self.base is None or self.tuned is None:
            return None
        return self.tuned - self.base

    @property
    def relative_change(self) -> float | None:
        """``(tuned - base) / |base|``; ``None`` when base is 0 or missing."""
        if self.change is None or not self.base:
            return None
        return self.change / abs(self.base)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["change"], d["relative_change"] = self.change, self.relative_change
        return d


@dataclass
class ProbeResult:
    """What a probe found.

    Attributes
    ----------
    probe : the probe's name (``"personas"``, ``"reviews"``, ``"attractors"``).
    sources : the sources analysed, in order.
    base, tuned : the compared pair (``None`` with a single source).
    summary : flat ``{key: number or string}``: ``"<source>.<statistic>"`` for the probe's
        own statistics, ``"<source>.diversity.<metric>"`` for :func:`~rewardshift.measure.
        measure`'s (``_across`` suffix = across-input), ``"compare.<metric>.<scope>.<field>"``
        for the comparisons.
    tables : per source, named tables (histograms, per-prompt rows, representative texts).
    comparisons : every tuned-versus-base :class:`Comparison`.
    verdicts : the headline sentences, most important first.
    diversity : :func:`~rewardshift.measure.measure`'s summary (for the attractor probe, one
        per temperature, keyed ``"T=1.5"``).
    definitions : one line per statistic: formula, direction, reference.
    notes : caveats found on this data (missing attributes, skipped statistics).
    config : the probe's settings and the seed.
    """

    probe: str
    sources: list[str]
    base: str | None
    tuned: str | None
    summary: dict[str, Any]
    tables: dict[str, dict[str, Any]]
    comparisons: list[Comparison]
    verdicts: list[str]
    diversity: dict[str, Any]
    definitions: dict[str, str]
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def comparison(self, metric: str, scope: str | None = None) -> Comparison:
        """The comparison of ``metric`` (in ``scope``, when several scopes have it).

        Raises
        ------
        KeyError
            naming the metrics that exist.
        """
        hits = [c for c in self.comparisons
                if c.metric == metric and (scope is None or c.scope == scope)]
        if not hits:
            known = sorted({f"{c.metric} ({c.scope})" for c in self.comparisons})
            raise KeyError(f"no comparison of {metric!r}"
                           f"{f' in scope {scope!r}' if scope else ''}; have {known}")
        return hits[0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (numpy scalars and non-finite floats made plain)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["comparisons"] = [c.to_dict() for c in self.comparisons]
        return _plain(d)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


# --------------------------------------------------------------------------- input checks


@dataclass(frozen=True)
class Prepared:
    """Checked input: samples per source (``source`` field set to the key) and the pair."""

    by_source: dict[str, list[Sample]]
    base: str | None
    tuned: str | None

    @property
    def order(self) -> list[str]:
        return list(self.by_source)

    @property
    def pair(self) -> tuple[str, str]:
        """``(base, tuned)``: the comparisons run only on an input that has a pair."""
        assert self.base is not None and self.tuned is not None, "no pair to compare"
        return self.base, self.tuned

    def all_samples(self) -> list[Sample]:
        return [s for src in self.by_source.values() for s in src]


def prepare(samples_by_source: Mapping[str, Sequence[Sample]], *, base: str | None,
            tuned: str | None, probe: str, min_samples: int = 2) -> Prepared:
    """Check ``samples_by_source`` and choose the compared pair.

    The pair: ``base`` and ``tuned`` when given (both or neither); else the keys ``"base"``
    and ``"tuned"`` when present; else the first two sources; with one source, no pair.

    Raises
    ------
    InputError
        for no sources, a source with fewer than ``min_samples`` samples, an item that is not
        a :class:`~rewardshift.Sample`, a sample whose ``source`` names another source, or an
        unknown ``base`` / ``tuned``.
    """
    where = f"{probe} probe"
    if not isinstance(samples_by_source, Mapping):
        raise InputError(f"{where}: samples_by_source must be a mapping {{source: [Sample, "
                         f"...]}}, got {type(samples_by_source).__name__}; e.g. "
                         "{'base': base_samples, 'tuned': tuned_samples}")
    if not samples_by_source:
        raise InputError(f"{where}: no sources given; pass {{'base': [...], 'tuned': [...]}} "
                         "with the samples of each model")
    by_source: dict[str, list[Sample]] = {}
    for name, samples in samples_by_source.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"{where}: source names must be non-empty strings, got {name!r}")
        if isinstance(samples, (str, bytes, Sample)) or not isinstance(samples, Sequence):
            raise InputError(f"{where}: source {name!r} must map to a list of Sample, got "
                             f"{type(samples).__name__}")
        if len(samples) < min_samples:
            raise InputError(f"{where}: source {name!r} has {len(samples)} sample(s); the "
                             f"probe needs at least {min_samples} per source (generate more "
                             "samples per prompt, or more prompts)")
        fixed = []
        for i, s in enumerate(samples):
            if not isinstance(s, Sample):
                raise InputError(f"{where}: source {name!r}, item {i} is a "
                                 f"{type(s).__name__}, not a Sample")
            if s.source and s.source != name:
                raise InputError(f"{where}: source {name!r}, sample {i} says source="
                                 f"{s.source!r}: samples are mismatched with their key; "
                                 "group samples by their source field")
            fixed.append(s if s.source else dataclasses.replace(s, source=name))
        by_source[name] = fixed
    base, tuned = _pair(list(by_source), base, tuned, where)
    return Prepared(by_source, base, tuned)


def _pair(names: list[str], base: str | None, tuned: str | None, where: str
          ) -> tuple[str | None, str | None]:
    if (base is None) != (tuned is None):
        raise InputError(f"{where}: give both base and tuned, or neither (got base={base!r}, "
                         f"tuned={tuned!r})")
    if base is None:
        if "base" in names and "tuned" in names:
            return "base", "tuned"
        return (names[0], names[1]) if len(names) >= 2 else (None, None)
    for role, name in (("base", base), ("tuned", tuned)):
        if name not in names:
            raise InputError(f"{where}: {role}={name!r} is not a source; sources are {names}")
    if base == tuned:
        raise InputError(f"{where}: base and tuned are both {base!r}; compare two sources")
    return base, tuned


# --------------------------------------------------------------------------- diversity


def diversity(samples: Sequence[Sample], prep: Prepared, config: MeasureConfig | None, *,
              embed: bool, seed: int) -> MeasureResult:
    """:func:`~rewardshift.measure.measure` on ``samples`` with the probe's pair and seed.

    ``embed`` overrides ``config.embeddings``; ``seed`` overrides ``config.seed``.
    """
    cfg = dataclasses.replace(config or MeasureConfig(), embeddings=embed, seed=seed)
    return measure(list(samples), cfg, base=prep.base, tuned=prep.tuned)


def diversity_comparisons(summary: Mapping[str, Any], *, prefix: str = "",
                          label_prefix: str = "") -> list[Comparison]:
    """:func:`~rewardshift.measure.measure`'s comparisons as :class:`Comparison` records."""
    comp = summary.get("comparison")
    if not comp:
        return []
    out = []
    for key, e in comp["metrics"].items():
        metric = key.removesuffix("_across")
        scope = "per_input" if e["per_input"] else "across_input"
        label = f"{label_prefix}{scope.replace('_', '-')} {metric.replace('_', ' ')}"
        kind = e.get("effect_size_kind")
        out.append(Comparison(
            metric=prefix + metric, scope=scope, base=e["base"], tuned=e["tuned"],
            p_value=e["p_value"], effect_size=e["effect_size"], effect_size_kind=kind,
            test=("paired permutation over prompts" if kind == "cohen_dz" else
                  "permutation over prompts" if e["per_input"] else "set permutation"),
            direction=e["direction"],
            verdict=describe_change(label, e["base"], e["tuned"], p_value=e["p_value"],
                                    direction=e["direction"])))
    return out


def diversity_summary(summary: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Flat ``{"<source>.diversity.<prefix><metric>": value}`` from a measure summary."""
    return {f"{src}.diversity.{prefix}{m}": e["value"]
            for src, block in summary["sources"].items() for m, e in block["metrics"].items()}


def headline_diversity(comparisons: Sequence[Comparison], *, prefix: str = "") -> list[str]:
    """Verdicts of the first :data:`HEADLINE_DIVERSITY` metric present, per-input first."""
    for metric in HEADLINE_DIVERSITY:
        hits = [c for c in comparisons if c.metric == prefix + metric]
        if hits:
            return [c.verdict for c in sorted(hits, key=lambda c: c.scope != "per_input")]
    return []


def flatten_comparisons(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """``{"compare.<metric>.<scope>.<field>": value}`` for the summary."""
    out: dict[str, Any] = {}
    for c in comparisons:
        key = f"compare.{c.metric}.{c.scope}"
        out[f"{key}.base"], out[f"{key}.tuned"] = c.base, c.tuned
        out[f"{key}.p_value"], out[f"{key}.effect_size"] = c.p_value, c.effect_size
    return out


def make_comparison(metric: str, scope: str, base: float | None, tuned: float | None, *,
                    p_value: float | None, effect_size: float | None,
                    effect_size_kind: str | None, test: str, direction: str = HIGHER,
                    label: str | None = None, kind: str = "relative", unit: str = ""
                    ) -> Comparison:
    """A :class:`Comparison` with its verdict written by :func:`describe_change`."""
    text = describe_change(label or metric.replace(".", " ").replace("_", " "), base, tuned,
                           p_value=p_value, direction=direction, kind=kind, unit=unit)
    return Comparison(metric, scope, base, tuned, p_value, effect_size, effect_size_kind, test,
                      direction, text)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}={value!r} must be a positive integer")
    return value


# --------------------------------------------------------------------------- run_probe


def collect_samples(probe: Probe, generate: GenerateFn | Mapping[str, GenerateFn], *, n: int,
                    seed: int = 0, sources: Sequence[str] | None = None
                    ) -> dict[str, list[Sample]]:
    """Generate the probe's prompts with each source's backend, at each of its temperatures.

    Parameters
    ----------
    probe : the probe whose ``prompts()`` and ``temperatures`` to use.
    generate : ``{source: generate_fn}``, or one ``generate_fn`` together with
        ``sources=[name]``. Each is called as ``generate_fn(prompts, n, temperature, seed)``.
    n : samples per prompt (per temperature).
    seed : passed to every call unchanged, so all sources and temperatures share their random
        streams (common random numbers: differences come from the models, not the draws).
    sources : which sources to run, in this order (default: every key of ``generate``).

    Returns
    -------
    dict[str, list[Sample]]
        Samples per source, ``source`` set to the key (a backend's own name, when different,
        kept in ``meta["model_source"]``) and ``meta["temperature"]`` set.

    Raises
    ------
    InputError
        for a bad ``n``, an unknown source, a backend that returns no samples or something
        other than samples.
    """
    n = check_positive_int(n, "n")
    if callable(generate) and not isinstance(generate, Mapping):
        if sources is None or len(sources) != 1:
            raise InputError("one generate function stands for one source: pass sources=["
                             "'name'], or a mapping {'base': generate_base, 'tuned': "
                             "generate_tuned}")
        generate = {sources[0]: generate}
    if not isinstance(generate, Mapping) or not generate:
        raise InputError("generate must be a callable or a non-empty mapping {source: "
                         f"callable}}, got {type(generate).__name__}")
    names = list(sources) if sources is not None else list(generate)
    missing = [s for s in names if s not in generate]
    if missing:
        raise InputError(f"sources {missing} have no generate function; have {list(generate)}")
    prompts = list(probe.prompts())
    out: dict[str, list[Sample]] = {}
    for name in names:
        fn = generate[name]
        if not callable(fn):
            raise InputError(f"generate[{name!r}] is a {type(fn).__name__}, not a callable")
        got: list[Sample] = []
        for temperature in probe.temperatures:
            batch = fn(prompts, n, float(temperature), seed)
            got.extend(_stamp(batch, name, float(temperature), len(prompts), n))
        out[name] = got
    return out


def _stamp(batch: Any, name: str, temperature: float, n_prompts: int, n: int) -> list[Sample]:
    where = f"generate[{name!r}] at temperature {temperature}"
    if isinstance(batch, (str, bytes)) or not isinstance(batch, Sequence):
        raise InputError(f"{where} returned a {type(batch).__name__}; it must return a list "
                         "of Sample")
    if not batch:
        raise InputError(f"{where} returned no samples for {n_prompts} prompts (expected "
                         f"n={n} per prompt)")
    out = []
    for i, s in enumerate(batch):
        if not isinstance(s, Sample):
            raise InputError(f"{where}: item {i} is a {type(s).__name__}, not a Sample")
        meta = {**s.meta, "temperature": temperature}
        if s.source and s.source != name:
            meta.setdefault("model_source", s.source)
        out.append(dataclasses.replace(s, source=name, meta=meta))
    return out


def run_probe(probe: Probe, generate: GenerateFn | Mapping[str, GenerateFn], *, n: int,
              seed: int = 0, sources: Sequence[str] | None = None, base: str | None = None,
              tuned: str | None = None) -> ProbeResult:
    """Generate the probe's samples (:func:`collect_samples`) and analyse them.

    Examples
    --------
    >>> from rewardshift.probes import ReviewProbe
    >>> def fake(prompts, n, temperature, seed):
    ...     return [Sample(text="Great product, works well.", prompt_id=pid, prompt=p)
    ...             for pid, p in prompts for _ in range(n)]
    >>> res = run_probe(ReviewProbe(embed=False), {"base": fake, "tuned": fake}, n=2)
    ... # doctest: +SKIP
    """
    samples = collect_samples(probe, generate, n=n, seed=seed, sources=sources)
    return probe.analyze(samples, seed=seed, base=base, tuned=tuned)
