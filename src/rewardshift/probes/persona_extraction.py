"""Reading a customer persona's attributes from its text: nationality, gender, age, occupation.

The persona probe (:mod:`rewardshift.probes.personas`) reads these four attributes from every
persona a model writes, by the documented rules below, and compares their distributions.

Attribute rules
---------------
Every attribute is ``None`` when no rule fires: nothing is guessed. Labelled fields
(``Nationality: Brazilian``, ``**Age:** 34``, ``Occupation - teacher`` is *not* a label: a
colon is needed) are read first, anywhere in the text, case-insensitively; free text after.
Gazetteers and their sizes are in :mod:`rewardshift.probes.gazetteer`.

**nationality** (a canonical country name)

1. Labelled fields, in this order: ``Nationality / Citizenship / Country of origin /
   Country``, then ``Origin / Hometown / Birthplace / Place of birth``, then ``Location /
   Based in / Lives in / Residence / Country of residence / City / From``. The first
   country, city or demonym in the field's value wins (ambiguous names allowed).
2. Otherwise the earliest *strong* mention: a demonym ("a Nigerian nurse"), a compound
   demonym read as heritage + nationality ("Mexican-American", "African American" -> United
   States; "French-Canadian" -> Canada), or a place right after ``from``, ``born in``,
   ``native of``, ``citizen of``, ``grew up in``, ``raised in``, ``hails from`` (``the``
   allowed between: "from the US"), or before ``-born`` ("Texas-born").
3. Otherwise the earliest other place mention (country, alias, US state, city), unless the
   six words before it in its clause hold a travel cue (travel, trip, visit, vacation,
   holiday, tour, honeymoon, backpacking, dream, wish, hope, plan, want, fly, explore,
   abroad): "dreams of visiting Japan" is not a nationality.

Not nationalities: "Latin / South / North / Central American", "West Indian", "Indian
Ocean"; a demonym followed by a food, culture, company or language word ("Italian food",
"American Express", "of Korean descent", "Spanish-speaking"); a language-named demonym
after speak / learn / study / teach / translate / in / into ("speaks Spanish", "in French",
"speaks Spanish and French") or before teacher / tutor / class / lessons ("an English
teacher"). Names are case-sensitive ("turkey" is a bird); names that are also first names
or other places (Jordan, Sydney, Florence, Georgia ...) count only after a place preposition
or before ", <place>" ("Austin, Texas").

**gender** (``female`` / ``male`` / ``non-binary``), the first rule that decides:

1. a ``Gender:`` / ``Sex:`` field;
2. a title before a capitalised name: Mr -> male; Mrs, Ms, Miss -> female; Mx ->
   non-binary (``Dr.`` and ``Prof.`` say nothing);
3. "non-binary", "nonbinary", "genderqueer" or a "they/them" pronoun declaration;
4. third-person pronouns: she/her/hers/herself against he/him/his/himself, strict majority;
5. the words "female" / "male" (not "male-dominated"), strict majority;
6. a self-describing noun after "a/an" (up to three words between: "a 40-year-old man",
   "a single mom"; relatives after has / with / married to do not count), or "mother /
   father of <number>";
7. a first name from the documented lists (the ``Name:`` field, the text's first word, the
   word after "Meet", "named", "called", a title or "Dr.", or a capitalised word before "is /
   was / has / works / lives / ..." or ", <age>" that is not someone's relative: "her
   daughter Emma is ..." does not count); unisex names never decide.

**age_band** (:data:`AGE_BANDS`: decades, so "in her 30s" maps exactly)

1. an ``Age:`` field: a number, a range ``25-34`` (its midpoint) or a decade (``30s``);
   a range in free text ("aged 25-35") is read by its midpoint too;
2. otherwise the earliest of: ``N years old`` / ``N-year-old`` / ``N year old`` (N in digits
   or words, "thirty-four"), ``aged N`` / ``age N``, ``N yo`` / ``N y/o``, ``Name, N,`` /
   ``Name (N)``, ``is / turned N`` followed by "and", a comma or the sentence end ("is 72
   and lives ..."), ``in her/his/their early/mid/late 30s`` (or "thirties"),
   ``thirty-something``, ``a teenager`` (-> ``<20``).

A number is skipped when it belongs to someone else: a possessive (her / his / their ...) or a
relative (son, kids, husband ...) among the three words before it, or a child, pet or thing
right after it ("a 5-year-old son", "a 10-year-old car"). Ages outside 1..120 are ignored.

**occupation** (canonical names of :data:`~rewardshift.probes.gazetteer.OCCUPATIONS`)

1. an ``Occupation / Job / Job title / Profession / Role / Career / Work / Employment /
   Position`` field: the first occupation in its value;
2. otherwise the earliest mention (longest form first: "software engineer", not "engineer"),
   skipping one that belongs to someone else (a possessive right before it, "her doctor"; a
   possessed relative shortly before, "her husband, a doctor"; "married to a nurse"), one that
   is not (yet, any more) the persona's ("former", "aspiring", "future", "would-be", "to
   become" right before it; "left / quit / lost / formerly / previously / used" among the six
   words before it: "left his job as a lawyer"), "doctor's appointment", "student loan", and -- for "cook", "coach", "builder",
   "founder" -- one without "a / an / as / the" before it ("loves to cook"). A capitalised
   match inside a sentence is a surname ("Sarah Baker"), not an occupation. "owns / runs /
   opened a (small) bakery, shop, store, restaurant, café, business, salon, ..." before any
   other mention reads as ``small business owner`` ("... a farm": ``farmer``).

"a retired teacher" is ``retired``: the persona's current occupation, as in the lab's
personas world, whose occupations include ``retired``. ``Dr.`` alone is not ``doctor`` (it
may be a PhD). Singular forms only: "teaches students" names someone else.

"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from rewardshift.probes.gazetteer import (
    AMBIGUOUS_PLACES,
    CITIES,
    COUNTRIES,
    FEMALE_NAMES,
    LANGUAGE_DEMONYMS,
    MALE_NAMES,
    OCCUPATIONS,
    SURFACE_OVERRIDES,
    US_STATES,
)

__all__ = [
    "AGE_BANDS",
    "ATTRIBUTES",
    "PersonaAttributes",
    "age_band",
    "extract_age",
    "extract_gender",
    "extract_nationality",
    "extract_occupation",
    "extract_persona",
]

#: Age bands: decades, so that both "34 years old" and "in her 30s" map to one band.
AGE_BANDS: tuple[str, ...] = ("<20", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
#: The attributes read and compared, in report order.
ATTRIBUTES: tuple[str, ...] = ("nationality", "gender", "age_band", "occupation")


@dataclass(frozen=True)
class PersonaAttributes:
    """The attributes read from one persona text (``None`` = not found).

    ``evidence`` maps each found attribute to the rule and the text that decided it.
    """

    nationality: str | None = None
    gender: str | None = None
    age: int | None = None
    age_band: str | None = None
    occupation: str | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"nationality": self.nationality, "gender": self.gender, "age": self.age,
                "age_band": self.age_band, "occupation": self.occupation}


# --------------------------------------------------------------------------- shared pieces

_POSSESSIVES = frozenset({"her", "his", "their", "my", "our", "your", "whose", "its"})
_RELATIVES = frozenset({
    "husband", "wife", "partner", "spouse", "son", "sons", "daughter", "daughters", "child",
    "children", "kid", "kids", "twins", "mother", "father", "mom", "dad", "mum", "parents",
    "brother", "brothers", "sister", "sisters", "sibling", "siblings", "friend", "friends",
    "boss", "colleague", "colleagues", "neighbor", "neighbour", "boyfriend", "girlfriend",
    "fiance", "fiancé", "fiancée", "roommate", "grandson", "granddaughter", "grandchildren",
    "grandkids", "grandmother", "grandfather", "baby", "toddler", "family", "dog", "cat",
    "pet", "aunt", "uncle", "cousin", "niece", "nephew",
})
_WORD = re.compile(r"[A-Za-zÀ-ÿ'’-]+")


def _words_before(text: str, pos: int, k: int) -> list[str]:
    """The last ``k`` words before ``pos`` in the same sentence, lower-cased."""
    head = text[max(0, pos - 200):pos]
    cut = max(head.rfind(c) for c in ".!?;\n")
    if cut >= 0 and not (cut > 0 and head[cut] == "." and head[cut - 1:cut].isupper()
                         and head[cut - 1:cut].isalpha()):
        head = head[cut + 1:]
    return [w.lower().strip("'’-") for w in _WORD.findall(head)][-k:]


def _next_word(text: str, pos: int) -> str:
    m = re.match(r"[\s-]*([A-Za-z]+)", text[pos:pos + 40])
    return m.group(1).lower() if m else ""


def _labelled(text: str, labels: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(label, value)`` of every ``Label: value`` field with one of ``labels``."""
    alts = "|".join(re.escape(x).replace(r"\ ", r"\s+")
                    for x in sorted(labels, key=len, reverse=True))
    pat = re.compile(rf"(?i)(?<![A-Za-z])({alts})\s*\**\s*[:：]\s*\**\s*([^|\n;:]{{1,80}})")
    for m in pat.finditer(text):
        yield m.group(1).lower(), m.group(2).strip()


def _alternation(forms: Sequence[str]) -> str:
    return "|".join(re.escape(f) for f in sorted(set(forms), key=len, reverse=True))


# --------------------------------------------------------------------------- nationality

def _place_table() -> dict[str, tuple[str, str]]:
    """surface -> (country, kind) with kind in {"country", "demonym", "place"}."""
    table: dict[str, tuple[str, str]] = {}
    for country, aliases, demonyms in COUNTRIES:
        for name in (country, *aliases):
            table.setdefault(name, (country, "country"))
        for d in demonyms:
            table.setdefault(d, (country, "demonym"))
    for state in US_STATES:
        table.setdefault(state, ("United States", "place"))
    for city, country in CITIES.items():
        table.setdefault(city, (country, "place"))
    for surface, country in SURFACE_OVERRIDES.items():
        table[surface] = (country, table[surface][1])
    return table


_PLACES = _place_table()
_PLACE_RE = re.compile(rf"(?<![\w-])(?:{_alternation(list(_PLACES))})(?![\w])")
_MASK_RE = re.compile(r"\b(?:(?:Latin|South|North|Central|Pan)[- ]Americans?|"
                      r"(?:Latin|South|North|Central) America|West Ind(?:ian|ies)|"
                      r"East Indies|Indian Ocean|Middle East(?:ern)?)\b")
#: "Mexican-American", "French-Canadian": heritage first, nationality second.
_COMPOUND_DEMONYM = re.compile(r"\b([A-Z][a-z]+)(?:-([A-Z][a-z]+)\b| (Americans?)\b)")
_ETHNIC = frozenset({"African", "Asian", "Hispanic", "Native", "Arab", "Latino", "Latina",
                     "Latinx", "Caribbean", "Pacific", "Afro"})
_STRONG_BEFORE = re.compile(r"(?:\bfrom|\bborn\s+in|\bnative\s+of|\bcitizen\s+of|"
                            r"\bgrew\s+up\s+in|\braised\s+in|\bhails\s+from|\bnational\s+of)"
                            r"\s+(?:the\s+)?$", re.I)
_PREP_BEFORE = re.compile(r"(?:\bin|\bfrom|\bnear|\bof|\bat|\baround|\boutside|\bto|"
                          r"\bacross)\s+(?:the\s+)?$", re.I)
_TRAVEL = re.compile(r"^(?:travel\w*|trips?|visit\w*|vacation\w*|holidays?|tour\w*|"
                     r"honeymoon\w*|backpack\w*|dream\w*|wish\w*|hop(?:e|es|ed|ing)|"
                     r"plan\w*|want\w*|fly|flying|flights?|explor\w*|abroad)$")
_DEMONYM_FOLLOWERS = frozenset({
    "food", "foods", "cuisine", "dish", "dishes", "restaurant", "restaurants", "recipe",
    "recipes", "cooking", "cheese", "wine", "wines", "beer", "coffee", "tea", "bread",
    "pastry", "pastries", "fries", "toast", "breakfast", "dressing", "delight", "literature",
    "history", "culture", "music", "art", "films", "film", "movies", "cinema", "television",
    "tv", "dramas", "drama", "novels", "poetry", "architecture", "brands", "brand",
    "products", "cars", "car", "company", "companies", "firm", "firms", "market", "markets",
    "economy", "politics", "government", "dream", "heritage", "descent", "ancestry", "roots",
    "background", "origin", "origins", "accent", "express", "airlines", "airways", "ocean",
    "sea", "language", "languages", "speaking", "speaker", "speakers", "translation",
    "grammar", "dictionary", "words", "phrases", "shepherd", "bulldog", "terrier", "style",
    "fashion", "design", "football", "soccer", "team", "teams", "league",
})
_LANGUAGE_FOLLOWERS = frozenset({"teacher", "tutor", "instructor", "professor", "lecturer",
                                 "teaching", "class", "classes", "lesson", "lessons",
                                 "course", "courses", "major", "degree", "translator",
                                 "literature", "skills", "fluently", "fluency"})
_LANGUAGE_BEFORE = frozenset({"speak", "speaks", "spoke", "speaking", "fluent", "learn",
                              "learns", "learned", "learning", "study", "studies",
                              "studied", "studying", "teach", "teaches", "teaching",
                              "taught", "translate", "translates", "translating", "in",
                              "into"})
_LANGUAGE_LOWER = frozenset(d.lower() for d in LANGUAGE_DEMONYMS)
_NAT_LABELS = (
    ("nationality", "citizenship", "country of origin", "country"),
    ("origin", "hometown", "home town", "birthplace", "place of birth"),
    ("location", "based in", "lives in", "residence", "country of residence", "city", "from"),
)


@dataclass(frozen=True)
class _Place:
    start: int
    surface: str
    country: str
    strong: bool


def _mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _places(text: str, *, labelled: bool) -> list[_Place]:
    """Place mentions that count, earliest first (see the module docstring)."""
    out: list[_Place] = []
    masked = _mask(text, [m.span() for m in _MASK_RE.finditer(text)])
    spans = []
    for m in _COMPOUND_DEMONYM.finditer(masked):
        first, second = m.group(1), (m.group(2) or m.group(3) or "").removesuffix("s")
        heritage = first in _ETHNIC or _PLACES.get(first, ("", ""))[1] == "demonym"
        if heritage and _PLACES.get(second, ("", ""))[1] == "demonym":
            out.append(_Place(m.start(), m.group(), _PLACES[second][0], True))
            spans.append(m.span())
    masked = _mask(masked, spans)
    for m in _PLACE_RE.finditer(masked):
        surface = m.group()
        country, kind = _PLACES[surface]
        if labelled:
            out.append(_Place(m.start(), surface, country, True))
        elif kind == "demonym":
            if _demonym_counts(masked, m.start(), m.end(), surface):
                out.append(_Place(m.start(), surface, country, True))
        else:
            place = _place_mention(masked, m.start(), m.end(), surface, country)
            if place is not None:
                out.append(place)
    return sorted(out, key=lambda p: p.start)


def _demonym_counts(text: str, start: int, end: int, surface: str) -> bool:
    follower = _next_word(text, end)
    if follower in _DEMONYM_FOLLOWERS:
        return False
    if surface in LANGUAGE_DEMONYMS:
        if follower in _LANGUAGE_FOLLOWERS:
            return False
        before = _words_before(text, start, 3)
        if before and before[-1] in _LANGUAGE_BEFORE:
            return False  # "speaks Spanish"
        if before[-3:-2] and before[-1] == "and" and before[-2] in _LANGUAGE_LOWER \
                and before[-3] in _LANGUAGE_BEFORE:
            return False  # "speaks Spanish and French"
    return True


def _place_mention(text: str, start: int, end: int, surface: str, country: str
                   ) -> _Place | None:
    before = text[max(0, start - 40):start]
    strong = bool(_STRONG_BEFORE.search(before)) or text[end:end + 5] == "-born"
    if surface in AMBIGUOUS_PLACES and not strong and not _PREP_BEFORE.search(before):
        after = re.match(r",\s*", text[end:end + 4])
        nxt = _PLACE_RE.match(text, end + after.end()) if after else None
        if nxt is None or nxt.group() in AMBIGUOUS_PLACES:
            return None
    if not strong and any(_TRAVEL.match(w) for w in _words_before(text, start, 6)):
        return None
    return _Place(start, surface, country, strong)


def _nationality(text: str) -> tuple[str | None, str]:
    for labels in _NAT_LABELS:
        for label, value in _labelled(text, labels):
            hits = _places(value, labelled=True)
            if hits:
                return hits[0].country, f"field '{label}': {hits[0].surface}"
    mentions = _places(text, labelled=False)
    for strong in (True, False):
        hits = [p for p in mentions if p.strong == strong]
        if hits:
            return hits[0].country, f"{'strong' if strong else 'place'} mention: {hits[0].surface}"
    return None, ""


def extract_nationality(text: str) -> str | None:
    """The persona's nationality (a canonical country name) or ``None``.

    Examples
    --------
    >>> extract_nationality("Ana is a 34-year-old Brazilian nurse.")
    'Brazil'
    >>> extract_nationality("He moved to Canada from the US in 2010.")
    'United States'
    >>> extract_nationality("She dreams of visiting Japan.") is None
    True
    """
    return _nationality(_check_text(text))[0]


# --------------------------------------------------------------------------- gender

_GENDER_VALUES = {"female": "female", "woman": "female", "f": "female", "girl": "female",
                  "male": "male", "man": "male", "m": "male", "boy": "male",
                  "non-binary": "non-binary", "nonbinary": "non-binary",
                  "non binary": "non-binary", "genderqueer": "non-binary",
                  "enby": "non-binary", "agender": "non-binary", "genderfluid": "non-binary"}
_TITLE_RE = re.compile(r"\b(Mr|Mrs|Ms|Mx)\.?(?=\s+[A-Z])|\b(Miss)(?=\s+[A-Z])")
_TITLES = {"Mr": "male", "Mrs": "female", "Ms": "female", "Miss": "female", "Mx": "non-binary"}
_NONBINARY_RE = re.compile(r"(?i)\b(?:non-?binary|genderqueer|they\s*/\s*them)\b")
_FEMALE_PRONOUNS = re.compile(r"(?i)\b(?:she|her|hers|herself)\b")
_MALE_PRONOUNS = re.compile(r"(?i)\b(?:he|him|his|himself)\b")
_FEMALE_WORD = re.compile(r"(?i)\bfemale\b(?!-)")
_MALE_WORD = re.compile(r"(?i)(?<![-\w])male\b(?!-)")
_SELF_NOUNS = {
    **dict.fromkeys(("woman", "girl", "lady", "gal", "mother", "mom", "mum", "wife",
                     "grandmother", "grandma", "businesswoman", "housewife", "actress",
                     "waitress", "policewoman", "saleswoman", "fisherwoman", "stewardess",
                     "widow", "daughter", "sister"), "female"),
    **dict.fromkeys(("man", "boy", "gentleman", "guy", "father", "dad", "husband",
                     "grandfather", "grandpa", "businessman", "househusband", "policeman",
                     "salesman", "fisherman", "widower", "son", "brother"), "male"),
}
_SELF_NOUN_RE = re.compile(r"(?i)\b(?:a|an)\s+(?:[\w'’-]+\s+){0,3}?(" +
                           "|".join(sorted(_SELF_NOUNS, key=len, reverse=True)) + r")\b")
_PARENT_OF_RE = re.compile(r"(?i)\b(mother|father|mom|dad|mum)\s+of\s+(?:\d+|one|two|three|"
                           r"four|five|six)\b")
_HAS_BEFORE = frozenset({"has", "have", "had", "with", "to", "married", "marry", "and"})
_NAME_LABELS = ("name", "full name", "customer name", "persona name", "persona")
_NAME_AFTER_RE = re.compile(r"\b(?:named|called|[Mm]eet|Dr\.?|Prof\.?|Professor|Mr\.?|"
                            r"Mrs\.?|Ms\.?|Mx\.?|Miss)\s+([A-Z][\w'’-]+)")
_NAME_SUBJECT_RE = re.compile(r"\b([A-Z][\w'’-]+)(?=\s+(?:is|was|has|works|lives|loves|"
                              r"enjoys|runs|owns|grew|moved)\b|,\s*\d{1,3}\b)")
_LEADING_NAME_RE = re.compile(r"\W*(?:Meet\s+)?(?:(?:Dr|Prof|Mr|Mrs|Ms|Mx)\.?\s+)?"
                              r"([A-Z][\w'’-]+)")


def _gender(text: str) -> tuple[str | None, str]:
    for label, value in _labelled(text, ("gender", "sex")):
        m = re.match(r"(?i)\W*(non[- ]?binary|[a-z]+)", value)
        if m and m.group(1).lower() in _GENDER_VALUES:
            return _GENDER_VALUES[m.group(1).lower()], f"field '{label}': {m.group(1)}"
    m = _TITLE_RE.search(text)
    if m:
        title = m.group(1) or m.group(2)
        return _TITLES[title], f"title: {title}"
    m = _NONBINARY_RE.search(text)
    if m:
        return "non-binary", f"word: {m.group()}"
    for rule, fem, mal in (("pronouns", _FEMALE_PRONOUNS, _MALE_PRONOUNS),
                           ("words female/male", _FEMALE_WORD, _MALE_WORD)):
        f, g = len(fem.findall(text)), len(mal.findall(text))
        if f != g:
            return ("female" if f > g else "male"), f"{rule}: {f} female vs {g} male"
    for m in _SELF_NOUN_RE.finditer(text):
        before = _words_before(text, m.start(), 2)
        if before and before[-1] in _HAS_BEFORE:
            continue
        return _SELF_NOUNS[m.group(1).lower()], f"self-description: {m.group()}"
    m = _PARENT_OF_RE.search(text)
    if m:
        return _SELF_NOUNS[m.group(1).lower()], f"self-description: {m.group()}"
    for name in _name_candidates(text):
        if name in FEMALE_NAMES:
            return "female", f"first name: {name}"
        if name in MALE_NAMES:
            return "male", f"first name: {name}"
    return None, ""


def _name_candidates(text: str) -> Iterator[str]:
    for _, value in _labelled(text, _NAME_LABELS):
        m = _LEADING_NAME_RE.match(value)
        if m:
            yield m.group(1)
    m = _LEADING_NAME_RE.match(text)
    if m:
        yield m.group(1)
    for m in _NAME_AFTER_RE.finditer(text):
        yield m.group(1)
    for m in _NAME_SUBJECT_RE.finditer(text):
        before = _words_before(text, m.start(), 3)
        if not any(w in _POSSESSIVES or w in _RELATIVES for w in before):
            yield m.group(1)


def extract_gender(text: str) -> str | None:
    """``"female"``, ``"male"``, ``"non-binary"`` or ``None``.

    Examples
    --------
    >>> extract_gender("Dr. Sarah Chen runs a clinic.")
    'female'
    >>> extract_gender("He is a retired teacher; his wife is a nurse.")
    'male'
    """
    return _gender(_check_text(text))[0]


# --------------------------------------------------------------------------- age

_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
          "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = {
    **{w: i + 1 for i, w in enumerate(_UNITS)}, **{w: i + 10 for i, w in enumerate(_TEENS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    **{f"{t}{sep}{u}": 20 + 10 * i + j + 1 for i, t in enumerate(_TENS)
       for j, u in enumerate(_UNITS) for sep in ("-", " ")},
}
_NUM = rf"(?:\d{{1,3}}|{_alternation(list(_NUMBER_WORDS))})"
_AGE_RES = (
    re.compile(rf"(?i)\b(?P<n>{_NUM})(?:\s+|-)(?:years?|yrs?)(?:\s+|-)old\b"),
    re.compile(r"(?i)\baged?\s+(?P<n>\d{1,3})\b"),
    re.compile(r"(?i)\b(?P<n>\d{1,3})\s*(?:yo|y/o|y\.o\.)(?!\w)"),
    re.compile(r"\b[A-Z][a-zÀ-ÿ'’-]+(?:\s+[A-Z][a-zÀ-ÿ'’-]+){0,3},\s*(?P<n>\d{1,3})\s*"
               r"(?=[,;.)]|\s+(?:is|works|lives|from|a|an|who)\b)"),
    re.compile(r"\b[A-Z][a-zÀ-ÿ'’-]+(?:\s+[A-Z][a-zÀ-ÿ'’-]+){0,3}\s*\((?P<n>\d{1,3})\)"),
    re.compile(r"(?i)\b(?:is|turned|turns)\s+(?P<n>\d{1,3})(?=\s*(?:and\b|,|\.|;|$))"),
)
_DECADE_WORDS = {"twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
                 "seventies": 70, "eighties": 80, "nineties": 90}
_DECADE = r"(?P<d>twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|" \
          r"[1-9]0['’]?s)"
_DECADE_RES = (
    re.compile(rf"(?i)\bin\s+(?:her|his|their|my)\s+(?:(?:early|mid|late)[-\s]?)?{_DECADE}"),
    re.compile(r"(?i)\b(?P<d>twenty|thirty|forty|fifty|sixty)[-\s]?something\b"),
    re.compile(r"(?i)\ban?\s+(?:teen|teenager)\b"),
)
_AGE_FOLLOWERS = frozenset({"son", "daughter", "child", "children", "kid", "kids", "twins",
                            "grandson", "granddaughter", "grandchild", "baby", "toddler",
                            "dog", "cat", "pet", "car", "house", "home", "company",
                            "business", "brand", "startup", "laptop", "phone", "sons",
                            "daughters", "boys", "girls"})


def age_band(age: int | None) -> str | None:
    """The :data:`AGE_BANDS` band of an age in years (``None`` stays ``None``).

    Examples
    --------
    >>> age_band(34), age_band(70), age_band(19)
    ('30-39', '70+', '<20')
    """
    if age is None:
        return None
    if age < 20:
        return "<20"
    return "70+" if age >= 70 else f"{age // 10 * 10}-{age // 10 * 10 + 9}"


def _to_int(token: str) -> int | None:
    token = token.lower().strip()
    if token.isdigit():
        return int(token)
    return _NUMBER_WORDS.get(re.sub(r"\s+", " ", token))


def _decade(token: str) -> int:
    token = token.lower()
    if token in _DECADE_WORDS:
        return _DECADE_WORDS[token]
    if token in ("twenty", "thirty", "forty", "fifty", "sixty"):
        return _NUMBER_WORDS[token]
    return int(token[0]) * 10


def _plausible(n: int | None) -> TypeGuard[int]:
    return n is not None and 1 <= n <= 120


def _age(text: str) -> tuple[int | None, str | None, str]:
    """``(age or None, band or None, evidence)``; a decade gives a band without an age."""
    for _, value in _labelled(text, ("age",)):
        m = re.match(r"\s*(\d{1,3})\s*[-–]\s*(\d{1,3})\b", value)
        if m:
            mid = (int(m.group(1)) + int(m.group(2))) // 2
            if _plausible(mid):
                return None, age_band(mid), f"field 'age': {m.group()}"
        m = re.match(rf"(?i)\s*(?:(?:early|mid|late)[-\s]?)?{_DECADE}", value)
        if m:
            return None, age_band(_decade(m.group("d"))), f"field 'age': {m.group().strip()}"
        m = re.match(rf"(?i)\s*({_NUM})\b", value)
        if m and _plausible(_to_int(m.group(1))):
            n = _to_int(m.group(1))
            return n, age_band(n), f"field 'age': {m.group(1)}"
    found: list[tuple[int, int | None, str | None, str]] = []  # (position, age, band, evidence)
    for pat in _AGE_RES:
        for m in pat.finditer(text):
            n = _to_int(m.group("n"))
            if _plausible(n) and not _belongs_to_other(text, m.start(), m.end()):
                rng = re.match(r"\s*[-–]\s*(\d{1,3})\b", text[m.end():m.end() + 8])
                if rng and m.group("n").isdigit():  # "aged 25-35": a range, its midpoint
                    mid = (n + int(rng.group(1))) // 2
                    found.append((m.start(), None, age_band(mid), m.group() + rng.group()))
                else:
                    found.append((m.start(), n, age_band(n), m.group()))
                break
    for pat in _DECADE_RES:
        m = pat.search(text)
        if m and "d" in pat.groupindex:
            found.append((m.start(), None, age_band(_decade(m.group("d"))), m.group()))
        elif m:
            found.append((m.start(), None, "<20", m.group()))
    if not found:
        return None, None, ""
    _, n, band, ev = min(found, key=lambda f: f[0])
    return n, band, f"mention: {ev}"


def _belongs_to_other(text: str, start: int, end: int) -> bool:
    before = _words_before(text, start, 3)
    if any(w in _POSSESSIVES or w in _RELATIVES for w in before):
        return True
    return _next_word(text, end) in _AGE_FOLLOWERS


def extract_age(text: str) -> int | None:
    """The persona's age in years, or ``None`` (also when only a decade is given).

    Examples
    --------
    >>> extract_age("Maria Lopez, 42, is a teacher with a 7-year-old son.")
    42
    >>> extract_age("A thirty-four-year-old nurse.")
    34
    """
    return _age(_check_text(text))[0]


# --------------------------------------------------------------------------- occupation

_OCC_FORMS = {form.lower(): (canonical, form) for canonical, forms in OCCUPATIONS
              for form in forms}
_OCC_RE = re.compile(rf"(?i)(?<![\w-])(?:{_alternation([f for _, (_, f) in _OCC_FORMS.items()])})"
                     r"(?![\w-])")
_OCC_LABELS = ("occupation", "job", "job title", "profession", "role", "career", "work",
               "employment", "position", "current job")
_NOT_YET = frozenset({"former", "ex", "aspiring", "future", "would-be", "wannabe", "become",
                      "becoming", "be", "retired"})
_NO_LONGER = frozenset({"left", "quit", "lost", "formerly", "previously", "used"})
_ARTICLE_REQUIRED = frozenset({"cook", "coach", "builder", "founder"})
_OCC_FOLLOWERS = frozenset({"loan", "loans", "debt", "discount", "card", "id", "visa",
                            "union", "housing", "council", "dorm", "residence", "life",
                            "clothes", "clothing", "brands", "brand", "bags", "handbags",
                            "labels", "shoes", "goods", "sunglasses", "friendly", "mode",
                            "appointment", "appointments", "visit", "office", "advice",
                            "orders", "license", "licence"})
_ARTICLES = frozenset({"a", "an", "as", "the"})
#: "owns a bakery", "runs a small shop": a small business owner.
_OWNER_RE = re.compile(r"(?i)\b(?:owns|runs|opened)\s+(?:a|an|her|his|their)\s+"
                       r"(?:[\w'’-]+\s+){0,2}?(?:bakery|shop|store|restaurant|caf[eé]|"
                       r"business|boutique|salon|bar|pub|workshop|garage|farm|bookstore|"
                       r"food truck|bed and breakfast|b&b)\b")


def _occupation_counts(text: str, m: re.Match[str]) -> bool:
    surface = m.group()
    form = _OCC_FORMS[surface.lower()][1]
    if surface[0].isupper() and form[0].islower() and not _sentence_initial(text, m.start()):
        return False  # a surname inside a sentence: "Sarah Baker"
    if text[m.end():m.end() + 2] in ("'s", "’s"):
        return False
    if _next_word(text, m.end()) in _OCC_FOLLOWERS:
        return False
    before = _words_before(text, m.start(), 4)
    if before and before[-1] in _POSSESSIVES:
        return False  # "her doctor"
    for i, w in enumerate(before):
        if w in _POSSESSIVES and any(x in _RELATIVES for x in before[i + 1:]):
            return False  # "her husband, a doctor"
    if "married" in before:
        return False  # "married to a nurse"
    last2 = before[-2:]
    if any(w in _NOT_YET for w in last2) and form.lower() != "retired":
        return False
    if any(w in _NO_LONGER for w in _words_before(text, m.start(), 6)):
        return False  # "left his job as a lawyer"
    if form.lower() in _ARTICLE_REQUIRED and not any(w in _ARTICLES for w in last2):
        return False
    return True


def _sentence_initial(text: str, pos: int) -> bool:
    head = text[:pos].rstrip(" \t*_#>-•")
    return not head or head[-1] in ".!?:\n(\"'“"


def _occupation(text: str) -> tuple[str | None, str]:
    for label, value in _labelled(text, _OCC_LABELS):
        m = _OCC_RE.search(value)
        if m:
            return _OCC_FORMS[m.group().lower()][0], f"field '{label}': {m.group()}"
    owner = _OWNER_RE.search(text)
    for m in _OCC_RE.finditer(text):
        if owner is not None and owner.start() < m.start():
            break
        if _occupation_counts(text, m):
            return _OCC_FORMS[m.group().lower()][0], f"mention: {m.group()}"
    if owner is not None:
        farm = owner.group().lower().endswith("farm")
        return ("farmer" if farm else "small business owner"), f"owner: {owner.group()}"
    return None, ""


def extract_occupation(text: str) -> str | None:
    """The persona's occupation (canonical name) or ``None``.

    Examples
    --------
    >>> extract_occupation("She works as a software developer in Lagos.")
    'software engineer'
    >>> extract_occupation("A retired teacher who loves gardening.")
    'retired'
    >>> extract_occupation("Her husband, a doctor, travels a lot.") is None
    True
    """
    return _occupation(_check_text(text))[0]


# --------------------------------------------------------------------------- all at once


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        from rewardshift._exceptions import InputError

        raise InputError(f"persona text must be a str, got {type(text).__name__}")
    return text


def extract_persona(text: str) -> PersonaAttributes:
    """All four attributes of one persona text, with the evidence for each.

    Examples
    --------
    >>> a = extract_persona("Name: Kwame Mensah\\nAge: 52\\nNationality: Ghanaian\\n"
    ...                     "Occupation: Farmer")
    >>> a.nationality, a.gender, a.age_band, a.occupation
    ('Ghana', 'male', '50-59', 'farmer')
    """
    text = _check_text(text)
    nat, nat_ev = _nationality(text)
    gen, gen_ev = _gender(text)
    age, band, age_ev = _age(text)
    occ, occ_ev = _occupation(text)
    evidence = {k: v for k, v in (("nationality", nat_ev), ("gender", gen_ev),
                                  ("age_band", age_ev), ("occupation", occ_ev)) if v}
    return PersonaAttributes(nat, gen, age, band, occ, evidence)
