"""The persona probe: customer personas, their attributes, and how many distinct ones there are.

Mohammadi 2024 (arXiv 2406.05587) asked a base and an aligned Llama-2 for customer personas:
the base gave many nationalities, the aligned model three. This probe asks for personas
(:meth:`PersonaProbe.prompts`), reads four attributes from each text by documented rules, and
compares the attribute distributions of base and tuned: histograms, entropy, support size,
Jensen-Shannon / KL divergence and coverage, pooled and per input.

The rules that read the attributes are in :mod:`rewardshift.probes.persona_extraction`, the
statistics in :mod:`rewardshift.probes.persona_stats`. The extraction names
(:func:`extract_persona`, :data:`AGE_BANDS`, ...) are also importable from here, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rewardshift.measure import MeasureConfig
from rewardshift.probes._core import Prepared, check_positive_int
from rewardshift.probes.base import Analysis, Probe
from rewardshift.probes.persona_extraction import (
    AGE_BANDS,
    ATTRIBUTES,
    PersonaAttributes,
    age_band,
    extract_age,
    extract_gender,
    extract_nationality,
    extract_occupation,
    extract_persona,
)
from rewardshift.probes.persona_stats import compare_attributes, describe_source

__all__ = [
    "AGE_BANDS",
    "ATTRIBUTES",
    "PRODUCTS",
    "PersonaAttributes",
    "PersonaProbe",
    "age_band",
    "extract_age",
    "extract_gender",
    "extract_nationality",
    "extract_occupation",
    "extract_persona",
]

#: What the personas are for; one prompt each.
PRODUCTS: tuple[str, ...] = (
    "a coffee subscription service", "a fitness tracking app", "an electric bicycle",
    "an online bank", "a language-learning app", "a budget airline", "a meal-kit delivery "
    "service", "a smart thermostat", "running shoes", "a video streaming service",
    "travel insurance", "an organic skincare brand", "project-management software",
    "a children's book publisher", "a used-car marketplace", "noise-cancelling headphones",
    "a plant-based milk", "an online chess course", "a budget smartphone", "home insurance",
)
#: The prompt: a frame a base model continues as readily as a chat model follows it.
TEMPLATE = ("Below is a customer persona for {product}. It gives the customer's name, age, "
            "gender, nationality and occupation, and a short description.\n\n"
            "Customer persona:\n")

_DEFINITIONS = {
    "entropy": "Shannon entropy (nats) of the attribute's histogram over samples where it was "
               "found; ↑ more diverse",
    "support": "number of distinct values of the attribute; ↑ more diverse",
    "support_rarefied": "expected support at the pair's common sample size n (Hurlbert 1971 "
                        "rarefaction); ↑ more diverse",
    "per_input_entropy": "mean over prompts of the attribute's entropy among that prompt's "
                         "samples (prompts with >= 2 found); ↑ more diverse",
    "found_rate": "share of samples in which the attribute was found by the rules",
    "js": "Jensen-Shannon divergence (nats, in [0, log 2]) of tuned and base histograms; "
          "label-permutation p-value",
    "kl": "KL(tuned || base) in nats with add-0.5 smoothing over the union support",
    "coverage": "share of base's values that tuned produces at least once; ↑ more diverse",
    "mass_coverage": "share of base's samples whose value tuned produces; ↑ more diverse",
}


@dataclass(frozen=True)
class PersonaProbe(Probe):
    """Customer personas: attribute histograms and their divergence, base against tuned.

    Examples
    --------
    >>> probe = PersonaProbe()
    >>> len(probe.prompts()), probe.prompts()[0][0]
    (20, 'persona-00')
    """

    name: ClassVar[str] = "personas"
    temperatures: tuple[float, ...] = (1.0,)
    products: tuple[str, ...] = field(default=PRODUCTS, metadata={
        "help": "one prompt per product"})
    template: str = field(default=TEMPLATE, metadata={"help": "prompt with a {product} slot"})
    embed: bool = field(default=True, metadata={
        "help": "embedding metrics in the text diversity (False: lexical only, fast)"})
    measure_config: MeasureConfig | None = field(default=None, metadata={
        "help": "settings of the text diversity (seed and embeddings are overridden)"})
    n_resamples: int = field(default=1000, metadata={
        "help": "permutations of the attribute tests (>= 10)"})

    def __post_init__(self) -> None:
        check_positive_int(self.n_resamples, "PersonaProbe.n_resamples")
        if "{product}" not in self.template:
            from rewardshift._exceptions import InputError

            raise InputError("PersonaProbe.template needs a {product} slot, e.g. "
                             "'Customer persona for {product}:'")

    def prompts(self) -> list[tuple[str, str]]:
        """One ``(prompt_id, prompt)`` per product: ``persona-00``, ``persona-01``, ..."""
        return [(f"persona-{i:02d}", self.template.format(product=p))
                for i, p in enumerate(self.products)]

    # ------------------------------------------------------------------ analyze hooks

    def read(self, prep: Prepared) -> dict[str, list[PersonaAttributes]]:
        """The attributes of every sample, per source."""
        return {src: [extract_persona(s.text) for s in samples]
                for src, samples in prep.by_source.items()}

    def describe(self, run: Analysis, embeddings: Mapping[str, np.ndarray | None]) -> None:
        for src, samples in run.prep.by_source.items():
            block, table = describe_source(samples, run.data[src])
            run.add_source(src, block, table)
            for a in ATTRIBUTES:
                rate = block[f"{a}.found_rate"]
                if rate < 0.5:
                    run.notes.append(f"{a} was found in only {rate:.0%} of {src!r} samples; "
                                     "the rules read explicit statements only, so the "
                                     "comparison rests on fewer samples")

    def compare(self, run: Analysis) -> None:
        comps, verdicts, extra, notes = compare_attributes(
            run.prep, run.data, n_resamples=self.n_resamples, seed=run.seed)
        run.comparisons += comps
        run.verdicts += verdicts
        run.summary.update(extra)
        run.notes += notes

    def definitions(self) -> dict[str, str]:
        return dict(_DEFINITIONS)

    def config(self, run: Analysis) -> dict[str, Any]:
        return {"seed": run.seed, "n_resamples": self.n_resamples, "embed": self.embed,
                "attributes": list(ATTRIBUTES), "age_bands": list(AGE_BANDS)}
