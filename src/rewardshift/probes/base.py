"""The :class:`Probe` base: a prompt set and one analysis template that every probe follows.

:meth:`Probe.analyze` runs five stages, each a hook a probe may override:

1. **prepare** -- check the samples and choose the pair, then read the probe's own data from
   them (:meth:`Probe.read`: attributes, sentiment scores, ...);
2. **diversity** (:meth:`Probe.add_diversity`) -- :func:`~rewardshift.measure.measure`'s
   text diversity over every sample, and each source's own statistics
   (:meth:`Probe.describe`, given the source's embeddings);
3. **compare** -- the probe's tuned-versus-base comparisons (:meth:`Probe.compare`, only
   when there is a pair);
4. **headline** -- the diversity verdicts that join the probe's own (:meth:`Probe.headline`);
5. **flatten** -- the comparisons into the flat summary, and the :class:`ProbeResult`.

Every stage writes into one :class:`Analysis` record, so a probe overrides only what it adds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rewardshift.measure import MeasureConfig
from rewardshift.probes._core import (
    Comparison,
    Prepared,
    ProbeResult,
    diversity,
    diversity_comparisons,
    diversity_summary,
    flatten_comparisons,
    headline_diversity,
    prepare,
)
from rewardshift.samples import Sample

__all__ = ["Analysis", "Probe"]


@dataclass
class Analysis:
    """What :meth:`Probe.analyze` has found so far; each stage adds to it.

    Attributes
    ----------
    prep : the checked samples and the pair.
    seed : the analysis seed.
    data : the probe's own reading of the samples (:meth:`Probe.read`).
    summary, tables, verdicts, notes : as in :class:`ProbeResult` (``summary`` without the
        diversity and comparison keys, which the flatten stage adds last).
    comparisons : the probe's own comparisons.
    diversity : :func:`~rewardshift.measure.measure`'s summary (or one per temperature).
    diversity_comparisons : its comparisons as :class:`Comparison` records.
    diversity_flat : its flat ``"<source>.diversity.<metric>"`` summary keys.
    diversity_definitions : its definitions.
    """

    prep: Prepared
    seed: int
    data: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diversity: dict[str, Any] = field(default_factory=dict)
    diversity_comparisons: list[Comparison] = field(default_factory=list)
    diversity_flat: dict[str, Any] = field(default_factory=dict)
    diversity_definitions: dict[str, str] = field(default_factory=dict)

    def add_source(self, source: str, block: Mapping[str, Any],
                   table: dict[str, Any]) -> None:
        """One source's statistics, as ``"<source>.<statistic>"`` keys, and its tables."""
        self.summary.update({f"{source}.{k}": v for k, v in block.items()})
        self.tables[source] = table


class Probe(ABC):
    """A prompt set and a pure analysis of the samples generated from it.

    Subclasses are frozen dataclasses that set ``name``, and have the fields ``temperatures``
    (the sampling temperatures of every prompt), ``embed`` and ``measure_config`` (the text
    diversity's settings). They implement :meth:`prompts`, :meth:`compare` and :meth:`config`,
    and override the other hooks of :meth:`analyze` (:meth:`read`, :meth:`describe`, ...)
    where they add to them.
    """

    name: ClassVar[str]
    temperatures: tuple[float, ...]
    embed: bool
    measure_config: MeasureConfig | None

    @abstractmethod
    def prompts(self) -> list[tuple[str, str]]:
        """The ``(prompt_id, prompt)`` pairs to sample."""

    def analyze(self, samples_by_source: Mapping[str, Sequence[Sample]], *, seed: int = 0,
                base: str | None = None, tuned: str | None = None) -> ProbeResult:
        """Analyse samples grouped by source; compare ``tuned`` with ``base``.

        The pair: ``base`` and ``tuned`` when given (both or neither); else the sources
        named ``"base"`` and ``"tuned"``; else the first two; with one source, no pair.

        Raises
        ------
        InputError
            for empty or mismatched sources, a source with fewer than 2 samples, or what
            the probe's own reading of the samples rejects.
        """
        prep = prepare(samples_by_source, base=base, tuned=tuned, probe=self.name)
        run = Analysis(prep, seed, data=self.read(prep))
        self.add_diversity(run)
        if prep.base is not None:
            self.compare(run)
        run.verdicts += self.headline(run)
        return self.flatten(run)

    # ------------------------------------------------------------------ hooks

    def read(self, prep: Prepared) -> Any:
        """The probe's own reading of the checked samples (default: nothing)."""
        return None

    def add_diversity(self, run: Analysis) -> None:
        """:func:`~rewardshift.measure.measure` over every sample, then :meth:`describe`."""
        prep = run.prep
        res = diversity(prep.all_samples(), prep, self.measure_config, embed=self.embed,
                        seed=run.seed)
        run.diversity = res.summary
        run.diversity_comparisons = diversity_comparisons(res.summary)
        run.diversity_flat = diversity_summary(res.summary)
        run.diversity_definitions = dict(res.summary.get("definitions", {}))
        self.describe(run, split_by_source(res.embeddings, prep.by_source))

    def describe(self, run: Analysis, embeddings: Mapping[str, np.ndarray | None]) -> None:
        """Each source's own statistics into ``run`` (:meth:`Analysis.add_source`, notes);
        ``embeddings`` are the text diversity's sentence embeddings per source, or ``None``.
        The default adds nothing: a probe with no statistics of its own."""
        return

    @abstractmethod
    def compare(self, run: Analysis) -> None:
        """The probe's comparisons of ``run.prep.tuned`` with ``run.prep.base`` into ``run``
        (comparisons, verdicts, summary keys, notes); called only when there is a pair."""

    def headline(self, run: Analysis) -> list[str]:
        """Verdicts of the text diversity, after the probe's own."""
        return headline_diversity(run.diversity_comparisons)

    def definitions(self) -> dict[str, str]:
        """One line per statistic of the probe's own: formula, direction, reference."""
        return {}

    @abstractmethod
    def config(self, run: Analysis) -> dict[str, Any]:
        """The probe's settings and the seed, for :attr:`ProbeResult.config`."""

    def flatten(self, run: Analysis) -> ProbeResult:
        """The :class:`ProbeResult`: the probe's comparisons first, then the diversity's."""
        prep = run.prep
        comparisons = run.comparisons + run.diversity_comparisons
        summary = {**run.summary, **run.diversity_flat, **flatten_comparisons(comparisons)}
        return ProbeResult(
            probe=self.name, sources=prep.order, base=prep.base, tuned=prep.tuned,
            summary=summary, tables=run.tables, comparisons=comparisons,
            verdicts=run.verdicts, diversity=run.diversity,
            definitions={**self.definitions(), **run.diversity_definitions}, notes=run.notes,
            config=self.config(run))


def split_by_source(embeddings: np.ndarray | None, by_source: Mapping[str, Sequence[Any]]
                    ) -> dict[str, np.ndarray | None]:
    """Rows of ``embeddings`` (one per sample, sources in order) per source; ``None`` stays."""
    out: dict[str, np.ndarray | None] = {}
    offset = 0
    for src, samples in by_source.items():
        out[src] = None if embeddings is None else embeddings[offset:offset + len(samples)]
        offset += len(samples)
    return out
