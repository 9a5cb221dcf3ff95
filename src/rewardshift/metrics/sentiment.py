"""Sentiment of a text: VADER's compound score.

VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis
of Social Media Text", ICWSM) scores a text by summing the valences of its words and emoji
(from a fixed lexicon, adjusted by rules for negation, intensifiers, "but", capitals and
punctuation) and normalising the sum ``x`` to ``compound = x / sqrt(x^2 + 15)`` in [-1, 1].
Because it sums over the whole text, long texts saturate toward +-1: compare texts of similar
length. VADER's own three-way convention is positive >= 0.05, negative <= -0.05.

The lexicon ships inside the ``vaderSentiment`` wheel (``vader_lexicon.txt``,
``emoji_utf8_lexicon.txt``): nothing is downloaded. The package is in the ``probes`` extra.
"""

from __future__ import annotations

import functools
from typing import Any

from rewardshift._exceptions import InputError, MissingDependencyError

__all__ = ["vader_compound"]


@functools.lru_cache(maxsize=1)
def _analyzer() -> Any:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as e:
        raise MissingDependencyError("vaderSentiment", "probes") from e
    return SentimentIntensityAnalyzer()


def vader_compound(text: str) -> float:
    """VADER's compound sentiment score of ``text``.

    Parameters
    ----------
    text : str
        The whole text, scored at once.

    Returns
    -------
    float
        In [-1, 1]; higher = more positive, 0 = neutral or no sentiment words.

    Raises
    ------
    InputError
        when ``text`` is not a str.
    MissingDependencyError
        when ``vaderSentiment`` is not installed (``pip install 'rewardshift[probes]'``).

    Notes
    -----
    Hutto, C. J. & Gilbert, E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment
    Analysis of Social Media Text. ICWSM.

    Examples
    --------
    >>> vader_compound("I love it. Absolutely wonderful!") > 0.8
    True
    >>> vader_compound("Terrible. It broke after a day and support ignored me.") < -0.5
    True
    """
    if not isinstance(text, str):
        raise InputError(f"vader_compound: expected a str, got {type(text).__name__}")
    return float(_analyzer().polarity_scores(text)["compound"])
