"""A stochastic grammar of short texts with a known distribution: the text world of ``lm``.

Every text is the rendering of a *derivation*: one choice per *slot* (nationality, stars,
material, ...), drawn from a table conditional on earlier slots, written out by a template
whose *fields* each show one or more slots. Hence for any string we can

1. sample it with a seed (:meth:`TextGrammar.sample`),
2. decide whether it is in the grammar (:meth:`TextGrammar.parse` returns ``None`` if not),
3. read its attributes back (the slot labels, plus derived ones), and
4. know its exact probability: ``log P(text | kind) = sum_slots log P(slot | parents)``
   (:meth:`TextGrammar.log_prob`).

The grammar is *unambiguous*: each field's surfaces map one-to-one to its slots' values, every
slot is shown by some field, and texts of different derivations differ (checked on the whole
support by the tests), so the parse is exact. Derivations of probability zero (a 5-star verdict
with "1 star.") are out of the grammar.

Kinds
-----
``review`` (504,000 texts, entropy 11.30 nats)::

    "Sophie, 29, a nurse from the United Kingdom, writes: The kettle is loud but it works. 3 stars."

Slots: nationality (the personas world's 30 countries and population shares), gender (1/2
each; shown by the name, one female and one male name per country), age band (the personas
world's bands and shares, each shown by one age), occupation given age band (the personas
world's table and age dependency), product (illustrative shares), stars (the J-shaped
distribution of online ratings, Hu, Pavlou & Zhang 2009, "Overcoming the J-shaped
distribution of product reviews", Commun. ACM 52(10); illustrative numbers) and tone given
stars (illustrative: negative tones go with low ratings). The verdict sentence shows
``(stars, tone)`` together and the closing "N stars." shows the stars again, so a verdict and a
rating that disagree ("works perfectly, I love it. 1 star.") is not in the grammar.
Derived attribute: ``sentiment`` = negative (1-2 stars), mixed (3), positive (4-5).

``breakage`` (864 texts, entropy 5.50 nats)::

    "A wine glass hits the tiled floor at a slant. Halfway through, the pieces spray out
    unevenly to one side."

Slots mirror :mod:`rewardshift.lab.worlds.shatter` qualitatively: material with the shatter
world's ``material_probs``; one of three objects of that material (uniform); the surface hit
(uniform);
impact angle class, ``head-on`` for ``theta < 20 deg`` under the shatter world's
``p(theta) = sin(2 theta)`` on ``[0, angle_max_deg)``, i.e. ``sin^2(20) / sin^2(80) = 0.12``,
else ``oblique``; crack pattern given the angle (illustrative: head-on impacts give a symmetric
star or a radial web, oblique ones mostly an asymmetric spray, as the shatter world's
asymmetry grows with ``sin theta``); the moment the frame shows, from the shatter world's
log-normal time since impact (median 0.8 settling times, log-sd 0.6) through its in-flight
fraction ``f = exp(-t / tau)``: peak burst ``f >= 0.8``, in flight ``0.55 <= f < 0.8``,
transitional ``0.15 <= f < 0.55``, clean end state ``f < 0.15`` (probabilities about 0.017,
0.30, 0.61, 0.075: transitional frames most common, the iconic ones rare).

Perceptual features
-------------------
:meth:`TextGrammar.features` gives four numbers in [0, 1] that simulated raters see
(illustrative scales):

* ``tidy`` -- review: agreement of tone and rating, ``1 - |valence(tone) - (stars - 1) / 4|``
  with the personas world's tone warmth as valence; breakage: ``(symmetry + clarity) / 2``
  with pattern symmetry (star 1, web 0.6, asymmetric 0.1) and moment clarity (peak 0.8,
  in flight 0.4, transitional 0.3, end state 1).
* ``typical`` -- the share of the kind's probability mass on texts no more likely than this one,
  ``P(p(X) <= p(x))``: 1 for the mode, near 0 for the rarest text.
* ``positive`` -- review: ``0.7 (stars - 1) / 4 + 0.3 warmth(tone)``; breakage: 0.5 (a breakage
  has no valence).
* ``iconic`` -- how iconic the ending is. Review: ``|stars - 3| / 2`` (a decisive rating);
  breakage: ``(2 f - 1)^2`` at the moment's typical in-flight fraction (peak 1, in flight 0.2,
  transitional 0.1, end state 0.9) times the pattern's symmetry weight (star 1, web 0.8,
  asymmetric 0.5).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import SupportsIndex

import numpy as np
from scipy.stats import norm

from rewardshift._exceptions import InputError
from rewardshift.lab.world import check_n
from rewardshift.lab.worlds.personas import (
    _AGE_FACTORS,
    AGE_BANDS,
    NATIONALITIES,
    OCCUPATIONS,
    TONES,
)
from rewardshift.lab.worlds.shatter import MATERIALS, ShatterConfig
from rewardshift.samples import Sample

__all__ = ["FEATURES", "Field", "GrammarConfig", "GrammarSample", "KindGrammar", "PROMPTS",
           "Slot", "TextGrammar", "breakage_grammar", "review_grammar"]

#: the perceptual features of a text, each in [0, 1] (module docstring)
FEATURES = ("tidy", "typical", "positive", "iconic")

#: the fixed prompts of each kind: ``{kind: ((prompt_id, prompt), ...)}``
PROMPTS: dict[str, tuple[tuple[str, str], ...]] = {
    "review": (("review-0", "Write a customer review:"),
               ("review-1", "Write a short product review with a star rating:"),
               ("review-2", "A customer describes a product they bought:")),
    "breakage": (("breakage-0", "Describe the glass breaking:"),
                 ("breakage-1", "Describe an object shattering on impact:"),
                 ("breakage-2", "Describe the moment something breaks:")),
}


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Slot:
    """One choice of a derivation.

    Attributes
    ----------
    name : str
        Attribute name of the choice.
    labels : tuple of str
        Attribute value of each choice.
    probs : ndarray, shape (*parent sizes, len(labels))
        ``P(slot | parents)``; each row sums to 1, zeros allowed.
    parents : tuple of str
        Earlier slots the table depends on, in slot order.
    """

    name: str
    labels: tuple[str, ...]
    probs: np.ndarray
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    """One placeholder of a template: the surface string that shows some slots.

    ``surfaces[codes]`` is the text of the slots' codes (a tuple, in the order of ``slots``);
    distinct codes must have distinct surfaces.
    """

    name: str
    slots: tuple[str, ...]
    surfaces: Mapping[tuple[int, ...], str]


@dataclass(frozen=True)
class GrammarSample:
    """A text of the grammar with its derivation.

    Attributes
    ----------
    text : str
        The rendered text.
    kind : str
        Which kind of text (``review`` or ``breakage``).
    attributes : dict of str to str
        Slot labels and derived attributes.
    log_prob : float
        Exact ``log P(text | kind)``: what a model prompted for this kind should assign.
    """

    text: str
    kind: str
    attributes: dict[str, str]
    log_prob: float


class KindGrammar:
    """The grammar of one kind of text: slots, a template of fields and perceptual features.

    Parameters
    ----------
    kind : str
        Name of the kind.
    slots : sequence of Slot
        In topological order (parents first).
    template : str
        Text with ``{field}`` placeholders, each field used once.
    fields : sequence of Field
        The placeholders; together they must show every slot.
    derive : callable, optional
        ``labels -> {name: label}``: extra attributes computed from the slot labels.
    perceive : callable, optional
        ``codes -> {feature: ndarray}``: the features ``tidy``, ``positive``, ``iconic`` from
        slot codes (arrays); ``typical`` is added from the probabilities.
    """

    def __init__(self, kind: str, slots: Sequence[Slot], template: str, fields: Sequence[Field],
                 *, derive: Callable[[dict[str, str]], dict[str, str]] | None = None,
                 perceive: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
                 ) -> None:
        self.kind, self.slots, self.template = kind, tuple(slots), template
        self.fields = {f.name: f for f in fields}
        self._derive, self._perceive = derive, perceive
        self._index = {s.name: i for i, s in enumerate(self.slots)}
        self.shape = tuple(len(s.labels) for s in self.slots)
        self._check()
        self.log_joint = self._build_joint()  # (*shape,), -inf off the support
        flat = self.log_joint.ravel()
        self._support = np.flatnonzero(np.isfinite(flat))
        lp = np.sort(flat[self._support])
        self._sorted_lp, self._mass_cdf = lp, np.cumsum(np.exp(lp))
        self._inverse = {name: {s: c for c, s in f.surfaces.items()}
                         for name, f in self.fields.items()}
        self._regex = self._build_regex()

    # ---- construction checks
    def _check(self) -> None:
        for i, s in enumerate(self.slots):
            want = tuple(len(self.slots[self._index[p]].labels) for p in s.parents) + (
                len(s.labels),)
            if any(p not in self._index or self._index[p] >= i for p in s.parents):
                raise InputError(f"slot '{s.name}' has parents {s.parents}; each must be an "
                                 "earlier slot")
            if [self._index[p] for p in s.parents] != sorted(self._index[p] for p in s.parents):
                raise InputError(f"slot '{s.name}' must list its parents {s.parents} in slot order")
            if s.probs.shape != want:
                raise InputError(f"slot '{s.name}' table has shape {s.probs.shape}; expected "
                                 f"{want} (parent sizes, then the slot's labels)")
            if np.any(s.probs < 0) or not np.allclose(s.probs.sum(axis=-1), 1.0, atol=1e-12):
                raise InputError(f"slot '{s.name}' table rows must be >= 0 and sum to 1")
        shown = {sl for f in self.fields.values() for sl in f.slots}
        if missing := [s.name for s in self.slots if s.name not in shown]:
            raise InputError(f"kind '{self.kind}': slots {missing} are shown by no field, so "
                             "the grammar would be ambiguous; add a field that renders them")
        placeholders = re.findall(r"\{(\w+)\}", self.template)
        if sorted(placeholders) != sorted(self.fields):
            raise InputError(f"template placeholders {placeholders} must be the fields "
                             f"{sorted(self.fields)}, each once")
        for f in self.fields.values():
            if len(set(f.surfaces.values())) != len(f.surfaces):
                raise InputError(f"field '{f.name}' has repeated surfaces; each must be unique")

    def _build_joint(self) -> np.ndarray:
        out = np.zeros(self.shape)
        n = len(self.slots)
        with np.errstate(divide="ignore"):
            for s in self.slots:
                axes = [self._index[p] for p in s.parents] + [self._index[s.name]]
                view = [1] * n
                for a in axes:
                    view[a] = self.shape[a]
                out = out + np.log(s.probs).reshape(view)
        return out

    def _build_regex(self) -> re.Pattern[str]:
        parts, pos = [], 0
        for m in re.finditer(r"\{(\w+)\}", self.template):
            parts.append(re.escape(self.template[pos:m.start()]))
            alts = sorted(self.fields[m.group(1)].surfaces.values(), key=len, reverse=True)
            parts.append(f"(?P<{m.group(1)}>" + "|".join(re.escape(a) for a in alts) + ")")
            pos = m.end()
        parts.append(re.escape(self.template[pos:]))
        return re.compile("".join(parts))

    # ---- derivations
    def support_size(self) -> int:
        """Number of texts of positive probability."""
        return int(self._support.size)

    def render(self, codes: Sequence[SupportsIndex]) -> str:
        """The text of a derivation (slot codes in slot order)."""
        vals = {f.name: f.surfaces[tuple(int(codes[self._index[s]]) for s in f.slots)]
                for f in self.fields.values()}
        return self.template.format(**vals)

    def attributes(self, codes: Sequence[SupportsIndex]) -> dict[str, str]:
        """Slot labels and derived attributes of a derivation."""
        labels = {s.name: s.labels[int(c)] for s, c in zip(self.slots, codes, strict=True)}
        if self._derive is not None:
            labels.update(self._derive(labels))
        return labels

    def _make(self, codes: Sequence[SupportsIndex]) -> GrammarSample:
        return GrammarSample(self.render(codes), self.kind, self.attributes(codes),
                             float(self.log_joint[tuple(codes)]))

    def sample_codes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` derivations drawn from the grammar, shape (n, n_slots)."""
        flat = rng.choice(self._support, size=n, p=np.exp(self.log_joint.ravel()[self._support]))
        return np.stack(np.unravel_index(flat, self.shape), axis=1)

    def parse_codes(self, text: str) -> tuple[int, ...] | None:
        """Slot codes of ``text``, or ``None`` when it is not in the grammar."""
        m = self._regex.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            return None
        codes: dict[str, int] = {}
        for name, f in self.fields.items():
            for sl, c in zip(f.slots, self._inverse[name][m.group(name)], strict=True):
                if codes.setdefault(sl, c) != c:
                    return None  # two fields disagree (e.g. verdict and stars)
        out = tuple(codes[s.name] for s in self.slots)
        if not np.isfinite(self.log_joint[out]) or self.render(out) != text:
            return None
        return out

    def parse(self, text: str) -> GrammarSample | None:
        """The derivation of ``text`` (attributes, exact log-probability), or ``None``."""
        codes = self.parse_codes(text)
        return None if codes is None else self._make(codes)

    def enumerate(self) -> Iterator[GrammarSample]:
        """Every text of positive probability once, in slot-code order."""
        for flat in self._support:
            yield self._make(np.unravel_index(flat, self.shape))

    def texts(self) -> Iterator[str]:
        """The texts of :meth:`enumerate` alone (faster)."""
        for flat in self._support:
            yield self.render(np.unravel_index(flat, self.shape))

    def log_probs(self) -> np.ndarray:
        """Exact log-probabilities of the texts of :meth:`enumerate`, in the same order."""
        return self.log_joint.ravel()[self._support]

    def entropy(self) -> float:
        """Exact entropy ``-sum p log p`` of the kind's texts, in nats."""
        lp = self.log_joint.ravel()[self._support]
        return float(-np.sum(np.exp(lp) * lp))

    def marginal(self, attribute: str) -> dict[str, float]:
        """Exact marginal probability of each label of a slot."""
        if attribute not in self._index:
            raise InputError(f"kind '{self.kind}' has no slot '{attribute}'; slots are "
                             f"{list(self._index)}")
        i = self._index[attribute]
        p = np.exp(self.log_joint)
        probs = p.sum(axis=tuple(a for a in range(p.ndim) if a != i))
        return dict(zip(self.slots[i].labels, probs.tolist(), strict=True))

    def features(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """Perceptual features (each in [0, 1]) of derivations, codes shape (N, n_slots)."""
        codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
        by_name = {s.name: codes[:, i] for i, s in enumerate(self.slots)}
        out = dict(self._perceive(by_name)) if self._perceive else {}
        lp = self.log_joint[tuple(codes.T)]
        # mass of texts no more likely than this one (1e-12 absorbs rounding of equal values)
        k = np.searchsorted(self._sorted_lp, lp + 1e-12, side="right")
        out["typical"] = np.clip(self._mass_cdf[k - 1] / self._mass_cdf[-1], 0.0, 1.0)
        return {f: np.asarray(out[f], dtype=float) for f in FEATURES}


def _table(rows: Sequence[Sequence[float]] | Sequence[float] | np.ndarray) -> np.ndarray:
    """Normalise weights to probabilities along the last axis."""
    a = np.asarray(rows, dtype=float)
    return a / a.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- review kind

#: female and male first name per country, in the order of the personas NATIONALITIES
_NAMES: dict[str, tuple[str, str]] = {
    "India": ("Priya", "Rahul"), "China": ("Li Na", "Wei"),
    "United States": ("Emily", "Michael"), "Indonesia": ("Siti", "Budi"),
    "Pakistan": ("Ayesha", "Imran"), "Nigeria": ("Ngozi", "Chinedu"),
    "Brazil": ("Ana", "João"), "Bangladesh": ("Fatema", "Rahim"), "Russia": ("Olga", "Dmitri"),
    "Mexico": ("María", "José"), "Ethiopia": ("Tigist", "Dawit"), "Japan": ("Yuki", "Haruto"),
    "Philippines": ("Maricel", "Paolo"), "Egypt": ("Nour", "Omar"),
    "DR Congo": ("Grace", "Patrice"), "Vietnam": ("Linh", "Minh"), "Iran": ("Maryam", "Reza"),
    "Turkey": ("Elif", "Mehmet"), "Germany": ("Anna", "Lukas"), "Thailand": ("Ploy", "Somchai"),
    "United Kingdom": ("Sophie", "James"), "Tanzania": ("Neema", "Baraka"),
    "France": ("Camille", "Julien"), "South Africa": ("Thandiwe", "Sipho"),
    "Italy": ("Giulia", "Marco"), "Kenya": ("Wanjiru", "Otieno"), "Myanmar": ("Thida", "Aung"),
    "Colombia": ("Valentina", "Andrés"), "South Korea": ("Ji-woo", "Min-jun"),
    "Uganda": ("Nakato", "Mukasa"),
}
_WITH_THE = {"United States", "Philippines", "DR Congo", "United Kingdom"}
#: the one age shown for each personas age band
_AGE_SHOWN = ("21", "29", "40", "50", "59", "71")
#: how each personas occupation reads after the age
_OCC_SHOWN = {"retired": "a retiree", "unemployed": "a jobseeker"}
#: (product, share; illustrative)
PRODUCTS: tuple[tuple[str, float], ...] = (
    ("blender", 0.3), ("kettle", 0.3), ("desk lamp", 0.2), ("hair dryer", 0.2))
#: share of ratings 1..5 stars (J-shaped; illustrative after Hu, Pavlou & Zhang 2009)
STARS: tuple[float, ...] = (0.12, 0.07, 0.11, 0.25, 0.45)
_TONE_NAMES = tuple(t for t, _, _ in TONES)  # positive, neutral, negative, sarcastic, anxious
#: P(tone | stars), rows 1..5 stars, columns in the order of the personas TONES (illustrative)
_TONE_GIVEN_STARS = ((0.02, 0.28, 0.45, 0.15, 0.10), (0.04, 0.36, 0.35, 0.12, 0.13),
                     (0.10, 0.55, 0.15, 0.10, 0.10), (0.35, 0.50, 0.04, 0.03, 0.08),
                     (0.60, 0.32, 0.01, 0.02, 0.05))
#: the verdict on the product for each (stars, tone); rows 1..5 stars, columns as TONES
_VERDICTS = (
    ("broke on day one, but the refund was quick", "stopped working after a week",
     "is useless and a waste of money", "lasted a whole day, impressive",
     "sparked when I plugged it in, which scared me"),
    ("looks nice but barely works", "works only on the lowest setting",
     "is flimsy and disappointing", "is almost as good as the picture, almost",
     "gets worryingly hot after a few minutes"),
    ("is decent for the price", "is loud but it works", "works but feels cheap",
     "works, eventually", "works, but I am not sure how long it will last"),
    ("works well and looks great", "does the job", "works well, though the cord is far too short",
     "works fine, if you enjoy reading manuals", "works well so far, fingers crossed"),
    ("works perfectly, I love it", "does exactly what it should",
     "works, though the box arrived crushed", "is so good it ruined all other ones for me",
     "is excellent, I just hope it lasts"),
)


def _review_sentiment(labels: dict[str, str]) -> dict[str, str]:
    s = int(labels["stars"])
    return {"sentiment": "negative" if s <= 2 else "mixed" if s == 3 else "positive"}


def _review_perceive(codes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    warmth = np.array([w for _, _, w in TONES])[codes["tone"]]
    rating = codes["stars"] / 4.0  # stars code 0..4 is 1..5 stars
    return {"tidy": 1.0 - np.abs(warmth - rating), "positive": 0.7 * rating + 0.3 * warmth,
            "iconic": np.abs(codes["stars"] - 2) / 2.0}


def review_grammar() -> KindGrammar:
    """The ``review`` kind: a persona writes a one-sentence review with a star rating."""
    countries = tuple(c for c, _ in NATIONALITIES)
    occ = np.tile(np.array([p for _, p, _ in OCCUPATIONS]), (len(AGE_BANDS), 1))
    occ_names = [o for o, _, _ in OCCUPATIONS]
    for name, factors in _AGE_FACTORS.items():  # the personas world's one dependency
        occ[:, occ_names.index(name)] *= np.array(factors)
    slots = [
        Slot("nationality", countries, _table([p for _, p in NATIONALITIES])),
        Slot("gender", ("female", "male"), _table([1, 1])),
        Slot("age", tuple(a for a, _ in AGE_BANDS), _table([p for _, p in AGE_BANDS])),
        Slot("occupation", tuple(occ_names), _table(occ), ("age",)),
        Slot("product", tuple(p for p, _ in PRODUCTS), _table([p for _, p in PRODUCTS])),
        Slot("stars", ("1", "2", "3", "4", "5"), _table(STARS)),
        Slot("tone", _TONE_NAMES, _table(_TONE_GIVEN_STARS), ("stars",)),
    ]
    fields = [
        Field("name", ("nationality", "gender"),
              {(i, g): _NAMES[c][g] for i, c in enumerate(countries) for g in (0, 1)}),
        Field("age", ("age",), {(i,): a for i, a in enumerate(_AGE_SHOWN)}),
        Field("occupation", ("occupation",),
              {(i,): _OCC_SHOWN.get(o, f"a {o}") for i, o in enumerate(occ_names)}),
        Field("country", ("nationality",),
              {(i,): ("the " if c in _WITH_THE else "") + c for i, c in enumerate(countries)}),
        Field("product", ("product",), {(i,): p for i, (p, _) in enumerate(PRODUCTS)}),
        Field("verdict", ("stars", "tone"),
              {(s, t): _VERDICTS[s][t] for s in range(5) for t in range(5)}),
        Field("stars", ("stars",), {(s,): "1 star" if s == 0 else f"{s + 1} stars"
                                    for s in range(5)}),
    ]
    template = "{name}, {age}, {occupation} from {country}, writes: The {product} {verdict}. {stars}."
    return KindGrammar("review", slots, template, fields, derive=_review_sentiment,
                       perceive=_review_perceive)


# --------------------------------------------------------------------------- breakage kind

#: three objects of each shatter material, as they open a sentence
_OBJECTS = {"glass": ("A wine glass", "A window pane", "A glass bottle"),
            "ice": ("An ice cube", "An icicle", "An ice sculpture"),
            "ceramic": ("A coffee mug", "A dinner plate", "A ceramic vase")}
_SURFACES = ("the tiled floor", "a stone step", "the kitchen counter", "a metal rail")
_ANGLES = ("head-on", "oblique")
_ANGLE_SHOWN = ("straight on", "at a slant")
_HEAD_ON_DEG = 20.0  # head-on: within 20 deg of the surface normal
_PATTERNS = ("symmetric star", "radial web", "asymmetric")
#: P(pattern | angle), rows head-on, oblique (illustrative; asymmetry grows with sin theta)
_PATTERN_GIVEN_ANGLE = ((0.45, 0.40, 0.15), (0.03, 0.22, 0.75))
_PATTERN_SHOWN = ("the cracks form a perfect symmetric star",
                  "a radial web of cracks spreads from the point of impact",
                  "the pieces spray out unevenly to one side")
_MOMENTS = ("peak burst", "in flight", "transitional", "clean end state")
_MOMENT_SHOWN = ("At the peak burst", "Mid-flight", "Halfway through", "Once everything settles")
#: in-flight fraction f bounding the moments (peak f >= 0.8 ... end state f < 0.15)
_MOMENT_F = (0.8, 0.55, 0.15)
_SYMMETRY = np.array([1.0, 0.6, 0.1])     # per pattern (illustrative)
_CLARITY = np.array([0.8, 0.4, 0.3, 1.0])  # per moment (illustrative)
_ICONIC_MOMENT = np.array([1.0, 0.2, 0.1, 0.9])  # ~ (2 f - 1)^2 at the moment's typical f
_ICONIC_PATTERN = np.array([1.0, 0.8, 0.5])


def _shatter_probs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Material, angle-class and moment probabilities from the shatter world's defaults."""
    c = ShatterConfig()
    head_on = math.sin(math.radians(_HEAD_ON_DEG)) ** 2 / math.sin(
        math.radians(c.angle_max_deg)) ** 2  # CDF of sin(2 theta): sin^2 theta
    # f = exp(-t/tau) >= b  <=>  t/tau <= -log b, with log(t/tau) ~ N(log median, sd)
    z = (np.log(-np.log(np.array(_MOMENT_F))) - math.log(c.time_median_tau)) / c.time_log_sd
    cdf = np.concatenate([[0.0], norm.cdf(z), [1.0]])
    return (_table(c.material_probs), np.array([head_on, 1 - head_on]), np.diff(cdf))


def _breakage_perceive(codes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sym, mom = _SYMMETRY[codes["pattern"]], codes["moment"]
    return {"tidy": (sym + _CLARITY[mom]) / 2, "positive": np.full(sym.shape, 0.5),
            "iconic": _ICONIC_MOMENT[mom] * _ICONIC_PATTERN[codes["pattern"]]}


def breakage_grammar() -> KindGrammar:
    """The ``breakage`` kind: an object hits a surface and breaks, seen at some moment."""
    mats = tuple(m.name for m in MATERIALS)
    p_mat, p_angle, p_moment = _shatter_probs()
    slots = [
        Slot("material", mats, p_mat),
        Slot("object", tuple(o.split(" ", 1)[1] for m in mats for o in _OBJECTS[m]),
             np.kron(np.eye(len(mats)), np.full(3, 1 / 3)), ("material",)),
        Slot("surface", tuple(s.split(" ", 1)[1] for s in _SURFACES),
             _table([1] * len(_SURFACES))),
        Slot("angle", _ANGLES, p_angle),
        Slot("pattern", _PATTERNS, _table(_PATTERN_GIVEN_ANGLE), ("angle",)),
        Slot("moment", _MOMENTS, p_moment),
    ]
    fields = [
        Field("object", ("material", "object"),
              {(m, 3 * m + o): _OBJECTS[name][o] for m, name in enumerate(mats)
               for o in range(3)}),
        Field("surface", ("surface",), {(i,): s for i, s in enumerate(_SURFACES)}),
        Field("angle", ("angle",), {(i,): s for i, s in enumerate(_ANGLE_SHOWN)}),
        Field("moment", ("moment",), {(i,): s for i, s in enumerate(_MOMENT_SHOWN)}),
        Field("pattern", ("pattern",), {(i,): s for i, s in enumerate(_PATTERN_SHOWN)}),
    ]
    template = "{object} hits {surface} {angle}. {moment}, {pattern}."
    return KindGrammar("breakage", slots, template, fields, perceive=_breakage_perceive)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class GrammarConfig:
    """Configuration of the text grammar."""

    kind_weights: tuple[float, float] = field(default=(0.5, 0.5), metadata={
        "help": "probability of a review and of a breakage text when no kind is asked for"})

    def __post_init__(self) -> None:
        w = np.asarray(self.kind_weights, dtype=float)
        if w.shape != (2,) or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InputError(f"GrammarConfig kind_weights={self.kind_weights!r} must be two "
                             "non-negative numbers (review, breakage) with a positive sum, "
                             "e.g. (0.5, 0.5)")


class TextGrammar:
    """Reviews and breakage descriptions with exact probabilities (see the module docstring).

    Parameters
    ----------
    config : GrammarConfig, optional
        Mixture weights of the kinds.

    Examples
    --------
    >>> g = TextGrammar()
    >>> s = g.sample(1, seed=0, kind="breakage")[0]
    >>> g.parse(s.text) == s, g.log_prob("the the the the")
    (True, -inf)
    >>> g.support_size("review"), g.support_size("breakage")
    (504000, 864)
    """

    def __init__(self, config: GrammarConfig | None = None) -> None:
        self.config = config or GrammarConfig()
        self.grammars: dict[str, KindGrammar] = {"review": review_grammar(),
                                                 "breakage": breakage_grammar()}
        w = np.asarray(self.config.kind_weights, dtype=float)
        self.kind_probs = dict(zip(self.grammars, w / w.sum(), strict=True))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of text, ``("review", "breakage")``."""
        return tuple(self.grammars)

    def _kinds(self, kind: str | None) -> list[str]:
        if kind is None:
            return list(self.grammars)
        if kind not in self.grammars:
            raise InputError(f"kind={kind!r} is not a kind of text; use one of {self.kinds}")
        return [kind]

    def prompts(self, kind: str) -> tuple[tuple[str, str], ...]:
        """The fixed ``(prompt_id, prompt)`` pairs that ask for ``kind``."""
        return PROMPTS[self._kinds(kind)[0]]

    def kind_of_prompt(self, prompt: str) -> str | None:
        """The kind a prompt (or prompt id) asks for, or ``None`` if it is not ours."""
        for kind, pairs in PROMPTS.items():
            if any(prompt in pair for pair in pairs):
                return kind
        return None

    def sample(self, n: int, *, seed: int, kind: str | None = None) -> list[GrammarSample]:
        """Draw ``n`` texts, seeded.

        Parameters
        ----------
        n : int
            Number of texts (with replacement).
        seed : int
            Seed of ``numpy.random.default_rng``; the same seed gives the same texts.
        kind : str, optional
            Draw only this kind; by default the kind of each text is drawn from
            ``config.kind_weights``.

        Returns
        -------
        list of GrammarSample
            Each with its text, attributes and exact ``log P(text | kind)``.
        """
        n = check_n(n)
        rng = np.random.default_rng(seed)
        kinds = self._kinds(kind)
        if len(kinds) == 1:
            which = np.zeros(n, dtype=np.int64)
        else:
            which = rng.choice(len(kinds), size=n, p=[self.kind_probs[k] for k in kinds])
        out: list[GrammarSample | None] = [None] * n
        for j, k in enumerate(kinds):
            idx = np.flatnonzero(which == j)
            if idx.size:
                g = self.grammars[k]
                for i, codes in zip(idx, g.sample_codes(idx.size, rng), strict=True):
                    out[i] = g._make(codes)
        return out  # type: ignore[return-value]

    def parse(self, text: str, *, kind: str | None = None) -> GrammarSample | None:
        """The unique derivation of ``text``, or ``None`` when it is not in the grammar."""
        for k in self._kinds(kind):
            if (s := self.grammars[k].parse(text)) is not None:
                return s
        return None

    def log_prob(self, text: str, *, kind: str | None = None) -> float:
        """Exact log-probability of ``text``; ``-inf`` when it is not in the grammar.

        With ``kind`` given, ``log P(text | kind)`` (what a model prompted for that kind should
        assign; ``-inf`` for a text of the other kind); without, the mixture
        ``log w_kind + log P(text | kind)``.
        """
        s = self.parse(text, kind=kind)
        if s is None:
            return -math.inf
        return s.log_prob if kind is not None else s.log_prob + math.log(self.kind_probs[s.kind])

    def enumerate(self, kind: str | None = None) -> Iterator[GrammarSample]:
        """Every text of positive probability once, reviews first (504,864 texts in all).

        ``log_prob`` is conditional on the kind, so it sums to 1 within each kind.
        """
        for k in self._kinds(kind):
            yield from self.grammars[k].enumerate()

    def support_size(self, kind: str | None = None) -> int:
        """Number of texts of positive probability (review 504,000; breakage 864)."""
        return sum(self.grammars[k].support_size() for k in self._kinds(kind))

    def entropy(self, kind: str | None = None) -> float:
        """Exact entropy in nats per text: of ``P(text | kind)``, or of the mixture."""
        if kind is not None:
            return self.grammars[self._kinds(kind)[0]].entropy()
        w = np.array([self.kind_probs[k] for k in self.kinds])
        h = np.array([self.grammars[k].entropy() for k in self.kinds])
        nz = w > 0
        return float(-np.sum(w[nz] * np.log(w[nz])) + np.sum(w * h))

    def marginal(self, kind: str, attribute: str) -> dict[str, float]:
        """Exact probability of each label of a slot of ``kind``, e.g. ``("review", "stars")``."""
        return self.grammars[self._kinds(kind)[0]].marginal(attribute)

    def features(self, texts: Sequence[str | GrammarSample]) -> np.ndarray:
        """Perceptual features of texts, shape (N, 4) in the order of :data:`FEATURES`.

        Each feature is in [0, 1] (module docstring); a text out of the grammar gets ``nan``.
        """
        out = np.full((len(texts), len(FEATURES)), np.nan)
        for i, t in enumerate(texts):
            text = t.text if isinstance(t, GrammarSample) else t
            for k in self.kinds:
                codes = self.grammars[k].parse_codes(text)
                if codes is not None:
                    f = self.grammars[k].features(np.array([codes]))
                    out[i] = [f[name][0] for name in FEATURES]
                    break
        return out

    def to_samples(self, samples: Sequence[GrammarSample], *, seed: int = 0,
                   source: str = "grammar") -> list[Sample]:
        """Convert to :class:`~rewardshift.samples.Sample` records.

        Each text gets one of its kind's prompts, drawn uniformly (seeded); ``logprob`` is
        ``log P(text | kind)``; ``meta`` holds the attributes and ``kind``.
        """
        rng = np.random.default_rng(seed)
        out = []
        for s in samples:
            pid, prompt = PROMPTS[s.kind][int(rng.integers(len(PROMPTS[s.kind])))]
            out.append(Sample(text=s.text, prompt_id=pid, prompt=prompt, logprob=s.log_prob,
                              source=source, meta={**s.attributes, "kind": s.kind}))
        return out
