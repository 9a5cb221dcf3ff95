"""Preference-data audit: alpha recovery, length and sentiment bias, bad rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from rewardshift._exceptions import InputError, SampleFileError
from rewardshift.prefs import audit_pairs, read_pairs


def _synthetic(alpha: float, n: int, seed: int, *, scores: bool = False):
    """Pairs whose chooser follows P(a) = sigma(alpha d_log_ref + d_quality)."""
    rng = np.random.default_rng(seed)
    lp = {}
    rows = []
    for i in range(n):
        a, b = f"answer {i} a", f"answer {i} b"
        lp[a], lp[b] = rng.normal(-20, 2), rng.normal(-20, 2)
        qa, qb = (rng.integers(1, 4), rng.integers(1, 4)) if scores else (0, 0)
        pick_a = rng.random() < expit(alpha * (lp[a] - lp[b]) + (qa - qb))
        c, r = (a, b) if pick_a else (b, a)
        row = {"prompt": "q", "chosen": c, "rejected": r, "line": i + 1}
        if scores:
            row["chosen_score"], row["rejected_score"] = (float(qa), float(qb)) if pick_a \
                else (float(qb), float(qa))
        rows.append(row)

    def log_ref(prompts, texts):
        return np.array([lp[t] for t in texts])

    return rows, log_ref


@pytest.mark.parametrize("alpha", [0.6, 0.0])
def test_alpha_is_recovered_with_a_covering_interval(alpha) -> None:
    pytest.importorskip("vaderSentiment")  # audit_pairs scores sentiment (the probes extra)
    rows, log_ref = _synthetic(alpha, 3000, seed=1)
    a = audit_pairs(rows, log_ref, seed=0).alpha
    assert a["ci_low"] <= alpha <= a["ci_high"]
    assert abs(a["value"] - alpha) < 0.1
    assert a["ci_high"] - a["ci_low"] < 0.3


def test_alpha_with_quality_scores_uses_the_closest_pairs() -> None:
    pytest.importorskip("vaderSentiment")  # audit_pairs scores sentiment (the probes extra)
    rows, log_ref = _synthetic(0.6, 4000, seed=2, scores=True)
    a = audit_pairs(rows, log_ref, seed=0).alpha
    assert a["ci_low"] <= 0.6 <= a["ci_high"]
    assert a["n_pairs_used"] < 4000 and "score" in a["quality"]


def test_length_and_sentiment_bias_on_constructed_pairs() -> None:
    pytest.importorskip("vaderSentiment")  # audit_pairs scores sentiment (the probes extra)
    rows = [{"prompt": "p", "chosen": "I love it, wonderful and great " + "x " * i,
             "rejected": "bad", "line": i + 1} for i in range(40)]
    res = audit_pairs(rows, lambda p, t: -np.array([len(x) for x in t], float), seed=0)
    assert res.length["share_chosen_longer"] == 1.0 and res.length["p_value"] < 1e-6
    assert res.sentiment["mean_difference"] > 0.5 and res.sentiment["p_value"] < 0.01
    assert any("longer in 100%" in v for v in res.verdicts)


@pytest.mark.parametrize("line, field, message", [
    ("{not json", None, "malformed JSON"),
    ('{"prompt": "p", "chosen": "a"}', "rejected", "missing"),
    ('{"prompt": "p", "chosen": 3, "rejected": "b"}', "chosen", "expected a string"),
    ('{"prompt": "p", "chosen": "  ", "rejected": "b"}', "chosen", "empty"),
    ('{"prompt": "p", "chosen": "a", "rejected": "a"}', "rejected", "identical"),
    ('{"prompt": "p", "chosen": "a", "rejected": "b", "chosen_score": NaN, '
     '"rejected_score": 1}', "chosen_score", "finite"),
    ('[1, 2]', None, "JSON object"),
])
def test_bad_rows_name_file_line_field_and_skip_only_when_asked(tmp_path, line, field,
                                                                message) -> None:
    good = json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"})
    p = tmp_path / "pairs.jsonl"
    p.write_text(f"{good}\n{line}\n{good}\n")
    with pytest.raises(SampleFileError) as e:
        read_pairs(p)
    assert e.value.line == 2 and e.value.field == field and message in str(e.value)
    assert "pairs.jsonl:2" in str(e.value)
    pairs, bad = read_pairs(p, skip_bad=True)
    assert [r["line"] for r in pairs] == [1, 3]
    assert [(b.line, b.field) for b in bad] == [(2, field)]


def test_empty_and_mixed_files_are_clear_errors(tmp_path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text("\n")
    with pytest.raises(InputError, match="no valid preference pair"):
        read_pairs(p)
    p.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n"
                 + json.dumps({"prompt": "p", "chosen": "a", "rejected": "c",
                               "chosen_score": 1, "rejected_score": 2}) + "\n")
    with pytest.raises(InputError, match="some rows have"):
        read_pairs(p)
    with pytest.raises(InputError, match="cannot open"):
        read_pairs(tmp_path / "missing.jsonl")
