"""metrics.sentiment: VADER's compound score, checked against its formula and the lexicon."""

from __future__ import annotations

import builtins
import math
from importlib import resources

import pytest

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.metrics import sentiment
from rewardshift.metrics.sentiment import vader_compound

vader = pytest.importorskip("vaderSentiment")


def _lexicon() -> dict[str, float]:
    text = (resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    return {row.split("\t")[0]: float(row.split("\t")[1]) for row in text.splitlines() if row}


@pytest.mark.parametrize("word", ["good", "terrible", "love", "boring"])
def test_one_word_is_its_normalised_valence(word):
    # Hutto & Gilbert 2014: compound = x / sqrt(x^2 + 15), x the summed valence.
    x = _lexicon()[word]
    assert vader_compound(word) == pytest.approx(x / math.sqrt(x * x + 15), abs=1e-4)


def test_bounds_and_neutral_text():
    for text in ("", "The box is blue.", "BEST EVER!!! love love love it, amazing, perfect!"):
        assert -1.0 <= vader_compound(text) <= 1.0
    assert vader_compound("The box is blue.") == 0.0


def test_rejects_non_text():
    with pytest.raises(InputError, match="expected a str, got int"):
        vader_compound(3)


def test_missing_package_names_the_extra_not_a_flag(monkeypatch):
    real_import = builtins.__import__

    def no_vader(name, *args, **kwargs):
        if name.startswith("vaderSentiment"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    sentiment._analyzer.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_vader)
    try:
        with pytest.raises(MissingDependencyError, match=r"rewardshift\[probes\]") as info:
            vader_compound("good")
        assert "--" not in str(info.value)
    finally:
        monkeypatch.undo()
        sentiment._analyzer.cache_clear()


def test_old_homes_are_the_same_function():
    from rewardshift.probes import vader_compound as from_probes
    from rewardshift.probes.reviews import vader_compound as from_reviews

    assert from_probes is vader_compound and from_reviews is vader_compound
