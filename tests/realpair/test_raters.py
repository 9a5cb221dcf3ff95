"""The real-text raters: features, Bradley–Terry labels, trimming."""

from __future__ import annotations

import numpy as np
import pytest

from rewardshift._exceptions import InputError
from rewardshift.realpair.raters import (
    RealRaters,
    label_pairs,
    pair_summary,
    trim_to_sentence,
    word_count,
)

pytest.importorskip("vaderSentiment")


@pytest.mark.parametrize("text, expected", [
    ("Great kettle. Boils fast! The lid is a bit fl", "Great kettle. Boils fast!"),
    ("No sentence end in this one at all", "No sentence end in this one at all"),
    ("Name: Ana Silva, 34, a nurse\n\nShe lives in Lisb", "Name: Ana Silva, 34, a nurse"),
    ("Short. Then a much longer sentence that ends here? and more",
     "Short. Then a much longer sentence that ends here?"),
    ("  Ok.  ", "Ok."),  # no end after 20 characters: whole, stripped
])
def test_trim_to_sentence(text, expected) -> None:
    assert trim_to_sentence(text) == expected


def test_parts_are_the_documented_features() -> None:
    r = RealRaters()
    texts = ["I love it, wonderful and perfect!", "Terrible. It broke and I hate it.",
             " ".join(["word"] * 40)]
    p = r.parts(texts, [-10.0, -20.0, -80.0], [5, 10, 40])
    assert p["sentiment"][0] > 0.5 > -0.5 > p["sentiment"][1]
    assert p["brevity"].tolist() == pytest.approx([-6 / 40, -7 / 40, -1.0])
    assert p["typicality"].tolist() == pytest.approx([-2.0, -2.0, -2.0])
    u = r.utility(p)
    assert u.tolist() == pytest.approx((3 * p["sentiment"] + p["brevity"]
                                        + p["typicality"]).tolist())
    assert word_count(" a  b\nc ") == 3


@pytest.mark.parametrize("lps, nts, match", [
    ([-1.0], [3, 4], "must match"),
    ([float("nan"), -1.0], [3, 4], "finite"),
    ([-1.0, -2.0], [0, 4], "at least one token"),
])
def test_parts_reject_bad_input(lps, nts, match) -> None:
    with pytest.raises(InputError, match=match):
        RealRaters().parts(["a b c", "d e f"], lps, nts)


def test_raters_reject_non_finite_weights() -> None:
    with pytest.raises(InputError, match="alpha"):
        RealRaters(alpha=float("inf"))


def test_label_pairs_stay_within_prompts_and_are_seeded() -> None:
    groups = {"p1": [0, 1, 2, 3], "p2": [4, 5, 6, 7, 8], "p3": [9]}
    u = np.arange(10, dtype=float)
    a = label_pairs(groups, u, rounds=3, seed=7)
    assert a == label_pairs(groups, u, rounds=3, seed=7)
    assert a != label_pairs(groups, u, rounds=3, seed=8)
    of = {i: k for k, v in groups.items() for i in v}
    assert all(of[c] == of[r] and c != r for c, r, _ in a)
    assert len(a) == 3 * (2 + 2)  # disjoint pairs per round; p3 has a single text
    for c, r, p in a:
        assert p == pytest.approx(1 / (1 + np.exp(-(u[c] - u[r]))))


def test_label_pairs_follow_bradley_terry() -> None:
    """Utility gap 1 -> the better text is chosen with probability sigmoid(1) = 0.731."""
    n = 4000
    groups = {f"p{i}": [2 * i, 2 * i + 1] for i in range(n)}
    u = np.tile([1.0, 0.0], n)
    pairs = label_pairs(groups, u, rounds=1, seed=0)
    rate = np.mean([c % 2 == 0 for c, _, _ in pairs])
    assert abs(rate - 1 / (1 + np.exp(-1))) < 3 * np.sqrt(0.2 / n)
    # an overwhelming gap is always chosen
    big = label_pairs({"a": [0, 1]}, np.array([50.0, 0.0]), rounds=5, seed=1)
    assert all(c == 0 for c, _, _ in big)


def test_pair_summary_and_errors() -> None:
    parts = {"sentiment": np.array([0.9, -0.5, 0.1, 0.0])}
    s = pair_summary(parts, [(0, 1, 0.8), (3, 2, 0.4)])
    assert s["n_pairs"] == 2 and s["mean_p_chosen"] == pytest.approx(0.6)
    assert s["sentiment"] == {"chosen": pytest.approx(0.45), "rejected": pytest.approx(-0.2),
                              "chosen_higher": 0.5}
    with pytest.raises(InputError, match="no preference pairs"):
        pair_summary(parts, [])
    with pytest.raises(InputError, match="rounds"):
        label_pairs({"a": [0, 1]}, np.zeros(2), rounds=0, seed=0)
