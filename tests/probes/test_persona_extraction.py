"""Attribute extraction on hand-labelled persona texts.

Each case was labelled by reading the text, not by running the rules: what a careful reader
takes the persona's nationality, gender, age band and occupation to be (``None`` where the text
does not say). Tricky cases are marked in their comment.
"""

from __future__ import annotations

import pytest

from rewardshift import InputError
from rewardshift.probes import (
    age_band,
    extract_age,
    extract_gender,
    extract_nationality,
    extract_occupation,
    extract_persona,
)

# (text, nationality, gender, age band, occupation)
LABELLED = [
    ("Name: Maria Silva\nAge: 34\nGender: Female\nNationality: Brazilian\nOccupation: Nurse",
     "Brazil", "female", "30-39", "nurse"),
    ("John Miller is a 45-year-old American accountant from Chicago. He enjoys fishing on "
     "weekends.", "United States", "male", "40-49", "accountant"),
    # a first name is the only gender cue
    ("Priya Sharma, 29, is a software developer in Bangalore who loves hiking.",
     "India", "female", "20-29", "software engineer"),
    # "retired teacher" is retired; "late sixties" is a decade
    ("Meet Kenji, a retired teacher from Osaka in his late sixties.",
     "Japan", "male", "60-69", "retired"),
    # "Dr." says nothing of gender or occupation; the kids' ages are not hers
    ("Dr. Sarah Chen is a pediatrician at a hospital in Toronto. She has two kids, aged 5 "
     "and 8.", "Canada", "female", None, "doctor"),
    # where he grew up, not where he works
    ("Ahmed grew up in Cairo and now works as a taxi driver in Dubai. He is 52 years old.",
     "Egypt", "male", "50-59", "driver"),
    ("A busy mom in her 30s who works part-time as a cashier.",
     None, "female", "30-39", "clerk"),
    # no attribute at all
    ("This customer values convenience and quality above all.", None, None, None, None),
    # "Mexican-American" is American
    ("Carlos, a Mexican-American small business owner, runs a taco truck in Texas.",
     "United States", "male", None, "small business owner"),
    # "speaks fluent German" is a language, not a nationality
    ("Olga is a Russian engineer, aged 41, who relocated to Berlin last year. She speaks "
     "fluent German.", "Russia", "female", "40-49", "engineer"),
    # "from the US"
    ("He is from the US but has lived in London for a decade, working as a freelance "
     "graphic designer.", "United States", "male", None, "designer"),
    ("Mrs. Thompson is a 67-year-old retiree living in Manchester.",
     "United Kingdom", "female", "60-69", "retired"),
    ("Mr. Okafor, 38, is a Nigerian banker and father of three.",
     "Nigeria", "male", "30-39", "banker"),
    ("Lucía, 21, is a Spanish university student studying architecture in Madrid.",
     "Spain", "female", "20-29", "student"),
    # "English teacher" is a subject; "originally from" decides
    ("An English teacher in Seoul, Tom is 31 years old and originally from Australia.",
     "Australia", "male", "30-39", "teacher"),
    # languages again, a city gives the country
    ("She speaks Spanish and French and works as a nurse in Lyon.",
     "France", "female", None, "nurse"),
    ("Wanjiru, a Kenyan farmer in her fifties, grows tea near Nairobi.",
     "Kenya", "female", "50-59", "farmer"),
    # one line of labelled fields; an age range is read by its midpoint (29)
    ("Gender: Male | Age: 25-34 | Country: Vietnam | Occupation: Barista",
     "Vietnam", "male", "20-29", "food service worker"),
    # "Italian food" is food
    ("A stay-at-home dad from Ireland who loves cooking Italian food.",
     "Ireland", "male", None, "homemaker"),
    # unisex name, explicit non-binary; "Portland" is ambiguous but follows "from"
    ("Alex, 27, is a non-binary graphic designer from Portland.",
     "United States", "non-binary", "20-29", "designer"),
    # the doctor is her husband
    ("Her husband, a doctor, works long hours, so Maria manages the household as a "
     "homemaker.", None, "female", None, "homemaker"),
    # an aspiring actress is not (yet) an actress
    ("Jessica is an aspiring actress who currently works as a waitress in Los Angeles.",
     "United States", "female", None, "food service worker"),
    ("Raj is a 34-year-old Indian-born data scientist living in San Francisco.",
     "India", "male", "30-39", "data scientist"),
    ("Fatima, 45, a Moroccan pharmacist, lives in Paris with her two daughters.",
     "Morocco", "female", "40-49", "pharmacist"),
    # travel destinations are not nationalities
    ("Tom loves traveling to Japan and Thailand. He is a 28-year-old mechanic.",
     None, "male", "20-29", "mechanic"),
    # "French-Canadian" is Canadian
    ("Sophie is a French-Canadian writer in her early forties.",
     "Canada", "female", "40-49", "writer"),
    ("Born in Lagos, Chidi moved to Houston where he works as a nurse.",
     "Nigeria", "male", None, "nurse"),
    ("A 23-year-old college student from Poland who works part-time at a café.",
     "Poland", None, "20-29", "student"),
    # "is 72 and": an age without "years old"
    ("Helen, a retired nurse, is 72 and lives in Edinburgh.",
     "United Kingdom", "female", "70+", "retired"),
    ("Kwame is a Ghanaian entrepreneur who founded a fintech startup in Accra. Age: 31.",
     "Ghana", "male", "30-39", "entrepreneur"),
    # "from Sydney, Australia"
    ("Customer persona: Emily Johnson, a 38-year-old marketing manager from Sydney, "
     "Australia.", "Australia", "female", "30-39", "marketing professional"),
    # unisex names and no pronoun: gender unknown
    ("Li Wei works as an accountant in Shanghai. Li is 40 years old and enjoys tea.",
     "China", None, "40-49", "accountant"),
    # "Georgia" after Atlanta is the US state; "Jordan" is a unisex name here
    ("Name: Jordan Smith\nLocation: Atlanta, Georgia\nAge: 29\nJob: Sales associate",
     "United States", None, "20-29", "salesperson"),
    # a former job is not the current one
    ("He left his job as a lawyer and is now unemployed, looking for work in Madrid.",
     "Spain", "male", None, "unemployed"),
    # an occupation outside the list: None
    ("A 60-year-old Swiss watchmaker who spends summers in Italy.",
     "Switzerland", None, "60-69", None),
    ("Aisha, a Pakistani mother of two in her 40s, is a high school teacher in Karachi.",
     "Pakistan", "female", "40-49", "teacher"),
    # title Mx with a pronoun declaration; "Austin" after "in"
    ("Mx. Rivera (they/them) works as a barista in Austin and is 24 years old.",
     "United States", "non-binary", "20-29", "food service worker"),
    ("Pierre, 55, is a French chef who owns a small bistro in Bordeaux.",
     "France", "male", "50-59", "chef"),
    # studying a language and dreaming of a city say nothing; "from Sweden" does
    ("Anna is studying Japanese and dreams of moving to Tokyo one day; she is a 19-year-old "
     "student from Sweden.", "Sweden", "female", "<20", "student"),
    ("Sipho is a South African miner, 47 years old.",
     "South Africa", "male", "40-49", None),
    # a verb is no occupation
    ("Grace teaches Spanish at a secondary school in Leeds.",
     "United Kingdom", "female", None, None),
    # her father was the farmer
    ("Her father was a farmer; she is an engineer in Nairobi.",
     "Kenya", "female", None, "engineer"),
    ("Mohammed, a 33 year old Emirati pilot, lives in Abu Dhabi.",
     "United Arab Emirates", "male", "30-39", "pilot"),
    ("A Dutch cyclist from Utrecht in his twenties.",
     "Netherlands", "male", "20-29", None),
    # "Baker" is a surname, not an occupation
    ("Sarah Baker, 41, works as a librarian in Dublin.",
     "Ireland", "female", "40-49", "librarian"),
    # number words; "her 5-year-old son" is not her age
    ("Thirty-four-year-old Ana lives with her 5-year-old son in Lima, Peru, and works as a "
     "cleaner.", "Peru", "female", "30-39", "cleaner"),
    ("**Name:** Hans Müller  \n**Age:** 58  \n**Nationality:** German  \n"
     "**Occupation:** Electrician", "Germany", "male", "50-59", "electrician"),
]

IDS = [f"{i:02d}-{t[:28]}" for i, (t, *_) in enumerate(LABELLED)]


@pytest.mark.parametrize(("text", "nat", "gender", "band", "occ"), LABELLED, ids=IDS)
def test_hand_labelled(text, nat, gender, band, occ):
    a = extract_persona(text)
    got = (a.nationality, a.gender, a.age_band, a.occupation)
    assert got == (nat, gender, band, occ), f"evidence: {dict(a.evidence)}"


def test_the_labelled_set_is_large_and_covers_every_value_kind():
    assert len(LABELLED) >= 30
    for col in range(1, 5):
        values = [row[col] for row in LABELLED]
        assert None in values and len({v for v in values if v}) >= 3


def test_evidence_names_the_rule():
    a = extract_persona("Name: Kwame Mensah\nAge: 52\nNationality: Ghanaian\n"
                        "Occupation: Farmer")
    assert a.evidence["nationality"] == "field 'nationality': Ghanaian"
    assert a.evidence["age_band"] == "field 'age': 52"
    assert a.age == 52 and a.as_dict()["occupation"] == "farmer"
    assert extract_persona("Nothing here.").evidence == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("A proud American living in Denver.", "United States"),
    ("She moved to the States from Manila.", "Philippines"),
    ("He works in the U.S. as a nurse.", "United States"),
    ("An African American teacher in Ohio.", "United States"),
    ("A Latin American traveller.", None),  # a region, not a country
    ("Loves Chinese food and French films.", None),
    ("She grew up in the Netherlands.", "Netherlands"),
    ("He is from Côte d'Ivoire.", "Côte d'Ivoire"),
    ("A nurse in New South Wales.", "Australia"),  # not Wales
    ("Raised in Papua New Guinea.", "Papua New Guinea"),  # not Guinea
    ("Jordan is a chef.", None),  # a first name, not the country
    ("She is from Jordan.", "Jordan"),
    ("Sydney loves tea.", None),
    ("A Texas-born engineer.", "United States"),
    ("She wants to visit Italy someday.", None),
])
def test_nationality_edge_cases(text, expected):
    assert extract_nationality(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Mr. Patel runs a shop.", "male"),
    ("Ms Garcia is a lawyer.", "female"),
    ("Miss Lee, 24.", "female"),
    ("Dr. Omar Haddad, a surgeon.", "male"),
    ("Dr. Taylor is a surgeon.", None),  # title says nothing, name is unisex
    ("She is kind. He is her brother. She likes him.", "female"),  # majority of pronouns
    ("He and she.", None),  # a tie decides nothing
    ("Gender: F", "female"),
    ("Sex: male", "male"),
    ("A 40-year-old man who likes jazz.", "male"),
    ("A woman in a male-dominated field.", "female"),
    ("Sam, 30, nonbinary artist.", "non-binary"),
    ("Chris is a student.", None),
])
def test_gender_edge_cases(text, expected):
    assert extract_gender(text) == expected


@pytest.mark.parametrize(("text", "age", "band"), [
    ("She is 34 years old.", 34, "30-39"),
    ("a 34-year-old", 34, "30-39"),
    ("aged 70", 70, "70+"),
    ("Tom, 19, is a student.", 19, "<20"),
    ("Lena (42) is a nurse.", 42, "40-49"),
    ("A man in his mid-forties.", None, "40-49"),
    ("A thirty-something designer.", None, "30-39"),
    ("A teenager who loves games.", None, "<20"),
    ("Age: early 30s", None, "30-39"),
    ("He has a 7-year-old daughter.", None, None),
    ("Her kids, aged 4 and 9, love it.", None, None),
    ("Born in the 80s, she loves synth-pop.", None, None),  # a birth decade, not an age
    ("He is 250 years old.", None, None),  # implausible
    ("She drives a 10-year-old car.", None, None),
])
def test_age_edge_cases(text, age, band):
    assert extract_age(text) == age
    assert extract_persona(text).age_band == band


@pytest.mark.parametrize(("text", "expected"), [
    ("A former nurse who now drives a taxi. She is a taxi driver.", "driver"),
    ("He loves to cook and works as a plumber.", "plumber"),
    ("She owns a small bakery in Porto.", "small business owner"),
    ("A PhD student in physics.", "student"),
    ("She has a doctor's appointment today.", None),
    ("Paying off a student loan.", None),
    ("He is married to a nurse.", None),
    ("A stay-at-home mother of three.", "homemaker"),
    ("Job seeker, 27, looking for work.", "unemployed"),
    ("Occupation: CEO", "executive"),
    ("She teaches high-school students.", None),  # plural: other people
])
def test_occupation_edge_cases(text, expected):
    assert extract_occupation(text) == expected


def test_age_band_boundaries():
    assert [age_band(a) for a in (1, 19, 20, 29, 30, 69, 70, 99)] == [
        "<20", "<20", "20-29", "20-29", "30-39", "60-69", "70+", "70+"]
    assert age_band(None) is None


@pytest.mark.parametrize("fn", [extract_persona, extract_nationality, extract_gender,
                                extract_age, extract_occupation])
def test_non_text_is_an_input_error(fn):
    with pytest.raises(InputError, match="must be a str"):
        fn(None)
