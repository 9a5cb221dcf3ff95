"""The personas world: customer personas with true population frequencies (finite, enumerable).

A persona is (nationality, age band, occupation, income band, tone). The persona probe of
Mohammadi 2024 (arXiv 2406.05587) found a base model spreading its personas over many
nationalities and an aligned one over three; here the truth is known, so the collapse can be
measured exactly on the whole support (30 x 6 x 14 x 5 x 5 = 63,000 outcomes).

Ground truth
------------
``P(nat, age, occ, inc, tone) = P(nat) P(age) P(occ | age) P(inc) P(tone)``:

* nationality: the 30 most populous countries with their mid-2023 populations (UN World
  Population Prospects 2022, rounded to millions), renormalised over the 30 (about 73% of
  the world's people);
* age band of adults: rough shares of the world adult population (UN WPP 2022);
* occupation: rough shares of adults (agriculture ~26% of employment, ILO ILOSTAT 2022;
  students, homemakers, retired and unemployed added so the list covers all adults;
  illustrative), with one light dependency: ``student`` is re-weighted toward 18-24 and
  ``retired`` toward 55+, then each age's row is renormalised;
* income band: rough global income tiers in dollars per day (Pew Research Center 2021,
  "global middle class" tiers: poor <= $2, low $2-10, middle $10-20, upper-middle $20-50,
  high > $50), independent of nationality -- a documented simplification;
* tone of the persona's voice: illustrative shares.

Perceptual axes and gold
------------------------
Raters reward typicality (``alpha log pi_ref``, in the rater model) and *pleasantness*:
``tone_warmth`` (positive 1 ... negative 0) and ``occupation_appeal`` (how relatable and
"nice" an occupation reads: teacher and software engineer 1, unemployed 0); both are
illustrative scales. The gold reward is plausibility, ``log P_true(x)``. The harm in this
world is distributional (support and histograms against the truth, measured by the analyses):
a pointwise plausibility reward cannot see typicality collapse, which is the Verbalized
Sampling point (Zhang et al. 2025, arXiv 2510.01171).

Base policy
-----------
``pi_ref ~ P_true^(1 / base_temperature)``: 1 is the truth, > 1 a flatter (over-dispersed)
fit, < 1 a sharper one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from rewardshift._exceptions import InputError
from rewardshift.lab.world import AxisInfo, World, WorldSample, check_n, require_features

__all__ = ["AGE_BANDS", "INCOME_BANDS", "NATIONALITIES", "OCCUPATIONS", "PersonasConfig",
           "PersonasWorld", "TONES"]

#: (country, mid-2023 population in millions; UN WPP 2022, rounded)
NATIONALITIES: tuple[tuple[str, float], ...] = (
    ("India", 1428), ("China", 1425), ("United States", 340), ("Indonesia", 277),
    ("Pakistan", 240), ("Nigeria", 224), ("Brazil", 216), ("Bangladesh", 173),
    ("Russia", 144), ("Mexico", 128), ("Ethiopia", 127), ("Japan", 123),
    ("Philippines", 117), ("Egypt", 113), ("DR Congo", 102), ("Vietnam", 99), ("Iran", 89),
    ("Turkey", 86), ("Germany", 83), ("Thailand", 72), ("United Kingdom", 68),
    ("Tanzania", 67), ("France", 65), ("South Africa", 60), ("Italy", 59), ("Kenya", 55),
    ("Myanmar", 54), ("Colombia", 52), ("South Korea", 52), ("Uganda", 48),
)
#: (band, share of world adults; rough, UN WPP 2022)
AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("18-24", 0.15), ("25-34", 0.22), ("35-44", 0.20), ("45-54", 0.16), ("55-64", 0.13),
    ("65+", 0.14),
)
#: (occupation, share of adults before the age adjustment, appeal to raters 0..1)
OCCUPATIONS: tuple[tuple[str, float, float], ...] = (
    ("farmer", 0.17, 0.2), ("factory worker", 0.09, 0.3), ("construction worker", 0.06, 0.3),
    ("shop assistant", 0.08, 0.4), ("driver", 0.04, 0.3), ("clerk", 0.05, 0.4),
    ("small business owner", 0.08, 0.8), ("teacher", 0.03, 1.0), ("nurse", 0.02, 0.9),
    ("software engineer", 0.01, 1.0), ("student", 0.08, 0.7), ("homemaker", 0.13, 0.3),
    ("retired", 0.10, 0.5), ("unemployed", 0.06, 0.0),
)
#: relative weight of (student, retired) in each age band (the one dependency); kept > 0 so
#: every persona has positive probability (log pi_ref finite)
_AGE_FACTORS = {"student": (6.0, 1.0, 0.05, 0.05, 0.05, 0.05),
                "retired": (0.002, 0.005, 0.02, 0.1, 1.5, 7.0)}
#: (band, share of people; rough, Pew Research Center 2021 global income tiers)
INCOME_BANDS: tuple[tuple[str, float], ...] = (
    ("poor", 0.10), ("low", 0.50), ("middle", 0.17), ("upper-middle", 0.13), ("high", 0.10),
)
#: (tone, share, warmth to raters 0..1; illustrative)
TONES: tuple[tuple[str, float, float], ...] = (
    ("positive", 0.30, 1.0), ("neutral", 0.40, 0.5), ("negative", 0.15, 0.0),
    ("sarcastic", 0.07, 0.1), ("anxious", 0.08, 0.2),
)
_ATTRS = ("nationality", "age", "occupation", "income", "tone")


@dataclass(frozen=True)
class PersonasConfig:
    """Configuration of the personas world."""

    base_temperature: float = field(default=1.0, metadata={
        "help": "base policy pi_ref ~ P_true^(1/T): 1 exact, >1 over-dispersed, <1 sharper"})

    def __post_init__(self) -> None:
        if not self.base_temperature > 0:
            raise InputError(f"PersonasConfig base_temperature={self.base_temperature!r} must "
                             "be > 0 (1.0 makes the base policy the truth)")


def _log_tables() -> dict[str, np.ndarray]:
    """Log-probability tables of the truth; ``occupation`` is (age, occupation)."""
    nat = np.array([p for _, p in NATIONALITIES], dtype=float)
    age = np.array([p for _, p in AGE_BANDS])
    occ = np.tile(np.array([p for _, p, _ in OCCUPATIONS]), (len(AGE_BANDS), 1))
    names = [o for o, _, _ in OCCUPATIONS]
    for occ_name, factors in _AGE_FACTORS.items():
        occ[:, names.index(occ_name)] *= np.array(factors)
    inc = np.array([p for _, p in INCOME_BANDS])
    tone = np.array([p for _, p, _ in TONES])
    return {"nationality": np.log(nat / nat.sum()), "age": np.log(age / age.sum()),
            "occupation": np.log(occ / occ.sum(axis=1, keepdims=True)),
            "income": np.log(inc / inc.sum()), "tone": np.log(tone / tone.sum())}


_AXES: dict[str, AxisInfo] = {
    "nationality": AxisInfo("physical", "country code (0 = most populous), categorical"),
    "age": AxisInfo("physical", "age band code 0..5 (18-24 ... 65+), ordinal"),
    "occupation": AxisInfo("physical", "occupation code, categorical"),
    "income": AxisInfo("physical", "income band code 0..4 (poor ... high), ordinal"),
    "tone": AxisInfo("physical", "tone code, categorical"),
    "tone_warmth": AxisInfo("perceptual", "how pleasant the tone reads, 0..1", iconic=1.0),
    "occupation_appeal": AxisInfo("perceptual", "how relatable the occupation reads, 0..1",
                                  iconic=1.0),
}
_CATEGORIES = {
    "nationality": tuple(n for n, _ in NATIONALITIES), "age": tuple(a for a, _ in AGE_BANDS),
    "occupation": tuple(o for o, _, _ in OCCUPATIONS),
    "income": tuple(i for i, _ in INCOME_BANDS), "tone": tuple(t for t, _, _ in TONES),
}


class PersonasWorld(World):
    """Customer personas with true population frequencies (see the module docstring).

    Examples
    --------
    >>> ws = PersonasWorld().enumerate()
    >>> len(ws), round(float(ws.base_prob.sum()), 6)
    (63000, 1.0)
    """

    name = "personas"
    axes = _AXES

    def __init__(self, config: PersonasConfig | None = None) -> None:
        self.config = config or PersonasConfig()
        self._tables = _log_tables()
        self._support = self._build_support()

    def _build_support(self) -> WorldSample:
        sizes = [len(_CATEGORIES[a]) for a in _ATTRS]
        codes = [c.ravel() for c in np.indices(sizes)]
        feats = dict(zip(_ATTRS, codes, strict=True))
        feats.update(self.perceptual(feats))
        log_truth = self.truth_log_prob(feats)
        log_base = log_truth / self.config.base_temperature
        log_base = log_base - logsumexp(log_base)
        return WorldSample(world=self.name, features=feats, log_base=log_base,
                           log_truth=log_truth, enumerated=True, categories=_CATEGORIES)

    @staticmethod
    def perceptual(features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The perceptual features of personas given their attribute codes."""
        require_features(features, ["occupation", "tone"], "personas")
        return {"tone_warmth": np.array([w for _, _, w in TONES])[features["tone"]],
                "occupation_appeal": np.array([a for _, _, a in OCCUPATIONS])
                [features["occupation"]]}

    def enumerate(self) -> WorldSample:
        """All 63,000 personas with exact base and true log-probabilities."""
        return self._support

    def sample(self, n: int, *, seed: int) -> WorldSample:
        """Draw ``n`` personas from the base policy (with replacement), seeded."""
        n = check_n(n)
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self._support), size=n, p=self._support.base_prob)
        return self._support.take(idx)

    def truth_log_prob(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Exact ``log P_true`` of each persona (codes in ``features``)."""
        require_features(features, list(_ATTRS), self.name)
        codes = {a: np.asarray(features[a], dtype=np.int64) for a in _ATTRS}
        for a, c in codes.items():
            if c.size and (c.min() < 0 or c.max() >= len(_CATEGORIES[a])):
                raise InputError(f"persona feature '{a}' has codes outside "
                                 f"0..{len(_CATEGORIES[a]) - 1}: min {c.min()}, max {c.max()}")
        t = self._tables
        return (t["nationality"][codes["nationality"]] + t["age"][codes["age"]]
                + t["occupation"][codes["age"], codes["occupation"]]
                + t["income"][codes["income"]] + t["tone"][codes["tone"]])

    def gold(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Plausibility of each persona, ``log P_true`` (higher is more plausible)."""
        return self.truth_log_prob(features)
