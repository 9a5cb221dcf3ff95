"""The sample record: round trips, streaming, and every bad-input case named by file/line/field."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from rewardshift import InputError, Sample, SampleFileError, read_samples, write_samples
from rewardshift.samples import atomic_write, from_frame, iter_jsonl, to_frame


def _samples() -> list[Sample]:
    return [
        Sample(text="héllo wörld ✨", prompt_id="p1", prompt="say hi", token_ids=(1, 2),
               logprob=-3.5, top_logprobs=({"a": -0.1, "b": -2.3},), source="base",
               meta={"score": 0.5, "tag": "x"}),
        Sample(text="second", prompt_id="p2", source="base"),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip(tmp_path, suffix):
    path = tmp_path / f"s{suffix}"
    assert write_samples(_samples(), path) == 2
    back = read_samples(path)
    assert back == _samples()


def test_frame_round_trip():
    df = to_frame(_samples())
    assert list(df["text"]) == ["héllo wörld ✨", "second"]
    assert from_frame(df)[0].meta == {"score": 0.5, "tag": "x"}


def test_defaults_and_unknown_fields_kept_in_meta(tmp_path):
    path = tmp_path / "gen.jsonl"
    path.write_text('{"text": "a", "reward": 1.5}\n\n{"text": "b", "prompt": "q"}\n')
    a, b = read_samples(path)
    assert a.source == "gen" and a.prompt_id == "" and a.meta == {"reward": 1.5}
    assert b.prompt_id == "q"  # prompt_id defaults to the prompt


def test_streaming_is_lazy(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "ok"}\n' * 3 + "not json\n")
    it = iter_jsonl(path)
    assert next(it).text == "ok"  # the bad line is not read yet


@pytest.mark.parametrize(
    ("content", "line", "field", "words"),
    [
        ('{"text": "a"}\n{"text": "b"\n', 2, None, "malformed JSON"),
        ('{"prompt": "x"}\n', 1, "text", "missing"),
        ('{"text": 3}\n', 1, "text", "string"),
        ('[1, 2]\n', 1, None, "JSON object"),
        ('{"text": "a", "logprob": NaN}\n', 1, "logprob", "finite"),
        ('{"text": "a", "logprob": "low"}\n', 1, "logprob", "number"),
        ('{"text": "a", "logprob": 2.0}\n', 1, "logprob", "<= 0"),
        ('{"text": "a", "token_ids": [1, "x"]}\n', 1, "token_ids", "integers"),
        ('{"text": "a", "top_logprobs": [{"a": Infinity}]}\n', 1, "top_logprobs[0]", "finite"),
        ('{"text": "a", "meta": {"reward": NaN}}\n', 1, "meta.reward", "finite"),
        ('{"text": "a", "meta": 5}\n', 1, "meta", "object"),
        ('{"text": "a", "prompt_id": [1]}\n', 1, "prompt_id", "string"),
    ],
)
def test_bad_lines_name_file_line_field(tmp_path, content, line, field, words):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(SampleFileError) as info:
        read_samples(path)
    err = info.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert words in str(err) and f"{path}:{line}" in str(err)
    assert isinstance(err, ValueError)


def test_empty_file_and_missing_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(SampleFileError, match="no samples"):
        read_samples(path)
    with pytest.raises(InputError, match="cannot open"):
        read_samples(tmp_path / "nope.jsonl")


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"text": "\xff\xfe"}\n')
    with pytest.raises(SampleFileError, match="UTF-8"):
        read_samples(path)


def test_huge_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("rewardshift.samples.MAX_LINE_BYTES", 100)
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"text": "x" * 500}) + "\n")
    with pytest.raises(SampleFileError, match="limit"):
        read_samples(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    write_samples(_samples(), path)
    before = path.read_bytes()

    def broken():
        yield _samples()[0]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_samples(broken(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left


def test_atomic_write_context(tmp_path):
    path = tmp_path / "x.txt"
    with atomic_write(path) as fh:
        fh.write("done")
    assert path.read_text() == "done"


def test_write_refuses_nan_meta(tmp_path):
    bad = Sample(text="a", meta={"r": math.nan})
    with pytest.raises(ValueError):
        write_samples([bad], tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_from_frame_needs_text():
    with pytest.raises(InputError, match="'text' column"):
        from_frame(pd.DataFrame({"x": [1]}))


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os

    path = tmp_path / "perm.txt"
    with atomic_write(path) as fh:
        fh.write("x")
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)
