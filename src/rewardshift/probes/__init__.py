"""Probes: prompt sets and pure analyses that show reward-induced narrowing on real models.

Three probes, each a :class:`Probe`: a prompt set plus ``analyze(samples_by_source, *, seed,
base, tuned)``, one template (prepare -> diversity -> compare -> headline -> flatten) whose
hooks each probe overrides:

* :class:`PersonaProbe` -- customer personas; nationality, gender, age band and occupation
  read by documented rules and gazetteers; histograms, entropy, support, JS / KL and coverage
  (Mohammadi 2024: "many nationalities against three").
* :class:`ReviewProbe` -- product reviews; VADER sentiment, the share in the top sentiment bin
  with an interval, semantic clusters (Wu et al. 2024: 5.9% -> 82%).
* :class:`AttractorProbe` -- completions at temperatures 0.5 / 1.0 / 1.5 under small prompt
  perturbations, clustered; next-token entropy by position and branching factor; the
  attractor verdict (Mohammadi 2024; Yang & Holtzman 2025).

Every probe also reports per-input and across-input text diversity through
:func:`rewardshift.measure.measure`. Probes depend on no model library: :func:`run_probe`
takes generation backends as plain callables ``generate(prompts, n, temperature, seed) ->
list[Sample]``.

Example
-------
>>> from rewardshift import Sample
>>> from rewardshift.probes import ReviewProbe, run_probe
>>> def fake(prompts, n, temperature, seed):
...     return [Sample(text="Great value, works well.", prompt_id=pid, prompt=p)
...             for pid, p in prompts for _ in range(n)]
>>> result = run_probe(ReviewProbe(embed=False), {"base": fake, "tuned": fake}, n=2)
... # doctest: +SKIP
>>> result.verdicts[0]  # doctest: +SKIP
'share of reviews in the top sentiment bin (compound >= 0.8) ...'
"""

from rewardshift.metrics.sentiment import vader_compound
from rewardshift.probes._core import (
    Comparison,
    GenerateFn,
    ProbeResult,
    collect_samples,
    run_probe,
)
from rewardshift.probes._stats import describe_change, format_p, rarefied_support
from rewardshift.probes.attractors import AttractorProbe, cluster_completions, perturbations
from rewardshift.probes.base import Analysis, Probe
from rewardshift.probes.persona_extraction import (
    AGE_BANDS,
    PersonaAttributes,
    age_band,
    extract_age,
    extract_gender,
    extract_nationality,
    extract_occupation,
    extract_persona,
)
from rewardshift.probes.personas import PersonaProbe
from rewardshift.probes.reviews import ReviewProbe, sentiment_bins

#: The probes by name (what a CLI's ``--probe`` chooses from).
PROBES: dict[str, type] = {"attractors": AttractorProbe, "personas": PersonaProbe,
                           "reviews": ReviewProbe}

__all__ = [
    "AGE_BANDS",
    "Analysis",
    "AttractorProbe",
    "Comparison",
    "GenerateFn",
    "PROBES",
    "PersonaAttributes",
    "PersonaProbe",
    "Probe",
    "ProbeResult",
    "ReviewProbe",
    "age_band",
    "cluster_completions",
    "collect_samples",
    "describe_change",
    "extract_age",
    "extract_gender",
    "extract_nationality",
    "extract_occupation",
    "extract_persona",
    "format_p",
    "perturbations",
    "rarefied_support",
    "run_probe",
    "sentiment_bins",
    "vader_compound",
]
