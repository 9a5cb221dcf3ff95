"""The JSONL backend: samples produced elsewhere, read through rewardshift.samples."""

from __future__ import annotations

import json

import pytest

from rewardshift import InputError, Sample, SampleFileError
from rewardshift.generate import GenerationConfig, GenerationError, JSONLBackend
from rewardshift.samples import write_samples


@pytest.fixture
def sample_file(tmp_path):
    samples = [Sample(text=f"{pid}-{j}", prompt_id=pid, prompt=f"prompt {pid}", logprob=-1.0 - j)
               for j in range(3) for pid in ("a", "b")]  # interleaved, as a server log might be
    samples.append(Sample(text="c-0", prompt_id="c", source="elsewhere",
                          meta={"sample_index": 7}))
    path = tmp_path / "base_model.jsonl"
    write_samples(samples, path)
    return path


def test_first_n_per_prompt_prompt_major(sample_file):
    b = JSONLBackend(sample_file)
    out = b.generate([("b", "prompt b"), ("a", "prompt a")], GenerationConfig(n=2))
    assert [s.text for s in out] == ["b-0", "b-1", "a-0", "a-1"]
    assert [s.meta["sample_index"] for s in out] == [0, 1, 0, 1]
    assert all(s.source == "base_model" for s in out)  # the file's stem
    assert out[1].logprob == -2.0
    assert b.generate([("b", "prompt b"), ("a", "prompt a")], GenerationConfig(n=2)) == out


def test_missing_prompt_text_is_filled_and_own_fields_kept(sample_file):
    (s,) = JSONLBackend(sample_file, source="ignored").generate([("c", "prompt c")],
                                                               GenerationConfig())
    assert s.prompt == "prompt c" and s.source == "elsewhere" and s.meta["sample_index"] == 7


def test_too_few_samples_names_the_prompts(sample_file):
    with pytest.raises(InputError, match=r"2 prompt\(s\) have fewer than n=3 samples "
                                         r"\('c': 1, 'zzz': 0\); lower n"):
        JSONLBackend(sample_file).generate([("a", "prompt a"), ("c", "x"), "zzz"],
                                           GenerationConfig(n=3))


def test_prompt_text_must_match(sample_file):
    with pytest.raises(InputError, match="prompt_id 'a' has prompt 'prompt a' in the file"):
        JSONLBackend(sample_file).generate([("a", "another prompt")], GenerationConfig())


def test_malformed_file_names_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "ok", "prompt_id": "a"}) + "\n"
                    + json.dumps({"text": "x", "prompt_id": "a", "logprob": 0.5}) + "\n")
    with pytest.raises(SampleFileError, match=r"bad.jsonl:2: field 'logprob'"):
        JSONLBackend(path).generate(["a"], GenerationConfig(n=2))


def test_missing_file_and_score(tmp_path, sample_file):
    with pytest.raises(InputError, match="no such sample file"):
        JSONLBackend(tmp_path / "nope.jsonl")
    with pytest.raises(GenerationError, match="no model to score with"):
        JSONLBackend(sample_file).score(["a"], ["b"])
    assert len(JSONLBackend(sample_file).samples()) == 7


def test_parquet_works_too(tmp_path, sample_file):
    pytest.importorskip("pyarrow")
    path = tmp_path / "s.parquet"
    write_samples(JSONLBackend(sample_file).samples(), path)
    out = JSONLBackend(path).generate([("a", "prompt a")], GenerationConfig(n=3))
    assert [s.text for s in out] == ["a-0", "a-1", "a-2"]
