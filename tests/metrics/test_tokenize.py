"""The tokenizers: built-in names, whitespace splitting as papers do, and the summary's name."""

from __future__ import annotations

import pytest

from rewardshift._exceptions import InputError
from rewardshift.metrics.tokenize import BUILTIN, WhitespaceTokenizer, get_tokenizer

TEXT = "The glass, it SHATTERED -- slowly."


@pytest.mark.parametrize(("name", "tokens"), [
    ("word", ["the", "glass", ",", "it", "shattered", "-", "-", "slowly", "."]),
    ("word-cased", ["The", "glass", ",", "it", "SHATTERED", "-", "-", "slowly", "."]),
    ("whitespace", ["The", "glass,", "it", "SHATTERED", "--", "slowly."]),
])
def test_builtin_tokenizers(name, tokens):
    tok = get_tokenizer(name)
    assert tok(TEXT) == tokens and tok.name == name and tok.vocab_size is None


def test_default_is_word_and_objects_pass_through():
    assert get_tokenizer(None) is BUILTIN["word"]
    ws = WhitespaceTokenizer()
    assert get_tokenizer(ws) is ws


def test_an_unknown_name_is_tried_as_a_hf_tokenizer_and_the_error_lists_builtins(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(InputError, match="word, word-cased, whitespace"):
        get_tokenizer(str(tmp_path / "no-such-tokenizer"))


def test_measure_summary_names_the_tokenizer_and_counts_change():
    from rewardshift.measure import MeasureConfig, measure
    from rewardshift.samples import Sample

    samples = [Sample(text=t, prompt_id=f"p{i % 3}", source=s)
               for s in ("a", "b") for i, t in enumerate(
                   ["A cat. A cat.", "a Cat, a dog", "THE dog!", "the cat", "a dog.", "Dog"])]
    out = {}
    for name in ("word", "whitespace"):
        cfg = MeasureConfig(tokenizer=name, embeddings=False, metrics=("distinct_1",))
        res = measure(samples, cfg, base="a", tuned="b")
        assert res.summary["tokenizer"] == name
        out[name] = res.summary["sources"]["a"]["metrics"]
    assert out["word"] != out["whitespace"]
