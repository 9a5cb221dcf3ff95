"""What every backend shares: the config, prompts, seeds, the protocol, the namespace."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rewardshift.generate as gen
from rewardshift import InputError, RewardshiftError
from rewardshift.generate import (
    Backend,
    GenerationConfig,
    GenerationError,
    JSONLBackend,
    OpenAIBackend,
    ServerError,
    check_prompts,
    sample_seed,
)


def test_all_is_sorted_and_importable():
    assert list(gen.__all__) == sorted(gen.__all__)
    assert all(hasattr(gen, name) for name in gen.__all__)


def test_import_does_not_pull_torch():
    code = ("import sys, rewardshift.generate; "
            "print(any(m in sys.modules for m in ('torch', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_errors_sit_in_the_tree():
    assert issubclass(ServerError, GenerationError)
    assert issubclass(GenerationError, RewardshiftError)
    err = ServerError("boom", url="http://x/v1/completions", status=503)
    assert (err.url, err.status, str(err)) == ("http://x/v1/completions", 503, "boom")


@pytest.mark.parametrize(("kw", "match"), [
    ({"n": 0}, "n=0 must be an integer >= 1"),
    ({"max_new_tokens": 2.5}, "max_new_tokens=2.5"),
    ({"temperature": -1}, "temperature=-1"),
    ({"temperature": float("nan")}, "temperature=nan"),
    ({"top_p": 0}, r"top_p=0 must be in \(0, 1\]"),
    ({"top_p": 1.5}, "top_p=1.5"),
    ({"top_logprobs": -1}, "top_logprobs=-1"),
    ({"top_logprobs": 2, "logprobs": False}, "needs logprobs=True"),
    ({"system_prompt": "hi"}, "set chat=True"),
    ({"seed": "1"}, "seed='1'"),
])
def test_config_is_checked(kw, match):
    with pytest.raises(InputError, match=match):
        GenerationConfig(**kw)


def test_config_to_dict():
    d = GenerationConfig(n=2, chat=True, system_prompt="s").to_dict()
    assert d["n"] == 2 and d["system_prompt"] == "s" and d["top_p"] == 1.0


def test_check_prompts():
    assert check_prompts(["hi", (3, "x"), ["id", "y"]]) == [("hi", "hi"), ("3", "x"),
                                                            ("id", "y")]
    for bad, match in [([], "empty"), ("abc", "list of"), ([("a", 1)], "must be a string"),
                       ([("a", "x", "y")], "not a \\(prompt_id, prompt\\) pair"),
                       ([(True, "x")], "prompt_id must be"), (["a", "a"], "appears twice")]:
        with pytest.raises(InputError, match=match):
            check_prompts(bad)


def test_sample_seed_is_stable_and_distinct():
    assert sample_seed(0, "p", 0) == sample_seed(0, "p", 0) == 722122371
    seeds = {sample_seed(s, p, j) for s in range(3) for p in "abc" for j in range(3)}
    assert len(seeds) == 27 and all(0 <= x < 2**31 - 1 for x in seeds)


def test_backends_follow_the_protocol(tmp_path):
    from rewardshift.samples import Sample, write_samples

    write_samples([Sample(text="t")], tmp_path / "s.jsonl")
    assert isinstance(JSONLBackend(tmp_path / "s.jsonl"), Backend)
    assert isinstance(OpenAIBackend("http://127.0.0.1:1/v1", "m"), Backend)
    assert isinstance(gen.TransformersBackend, type)  # its instances need a model: see test_hf
