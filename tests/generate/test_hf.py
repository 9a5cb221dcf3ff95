"""The transformers backend on the project's tiny GPT-2, and GGUF loading on SmolLM2."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rewardshift import InputError
from rewardshift.generate import GenerationConfig, GenerationError, TransformersBackend

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

PROMPTS = [("review", "Write a product review."), ("break", "Describe what broke.")]


@pytest.fixture(scope="module")
def tiny(tiny_model) -> TransformersBackend:
    return TransformersBackend.from_pretrained(tiny_model, batch_size=4, source="tiny")


def test_samples_carry_ids_logprobs_and_top_k(tiny):
    cfg = GenerationConfig(n=3, max_new_tokens=10, seed=1, top_logprobs=3)
    samples = tiny.generate(PROMPTS, cfg)
    assert [(s.prompt_id, s.meta["sample_index"]) for s in samples] == [
        (pid, j) for pid, _ in PROMPTS for j in range(3)]
    eos = tiny.tokenizer.eos_token_id
    for s in samples:
        assert s.source == "tiny" and s.prompt == dict(PROMPTS)[s.prompt_id]
        assert 1 <= len(s.token_ids) <= 10 and len(s.top_logprobs) == len(s.token_ids)
        stopped = s.meta["finish_reason"] == "stop"
        assert stopped == (s.token_ids[-1] == eos) and eos not in s.token_ids[:-1]
        assert stopped or len(s.token_ids) == 10
        body = s.token_ids[:-1] if stopped else s.token_ids
        assert s.text == tiny.tokenizer.decode(body, skip_special_tokens=True)
        assert s.logprob < 0
        for t in s.top_logprobs:
            values = list(t.values())
            assert 1 <= len(t) <= 3 and values == sorted(values, reverse=True)
            assert all(v <= 0 for v in values)


def test_logprob_equals_a_full_forward_pass(tiny):
    """The KV-cache loop's logprob against ids_logprobs (one right-padded forward pass)."""
    from rewardshift.generate.scoring import Encoded, ids_logprobs

    samples = tiny.generate(PROMPTS, GenerationConfig(n=4, max_new_tokens=12, seed=2))
    enc = [Encoded(tiny.encode_prompt(s.prompt) + list(s.token_ids),
                   len(tiny.encode_prompt(s.prompt))) for s in samples]
    ref = ids_logprobs(tiny.model, enc, pad_id=tiny.tokenizer.pad_token_id)
    np.testing.assert_allclose([s.logprob for s in samples], ref, rtol=1e-5, atol=1e-4)


def test_top_logprobs_hold_the_chosen_token_when_it_is_likely(tiny):
    cfg = GenerationConfig(n=2, max_new_tokens=8, temperature=0.0, top_logprobs=2)
    for s in tiny.generate(PROMPTS, cfg):
        # greedy: the chosen token is the top-1 candidate at every step
        names = [tiny.tokenizer.decode([i]) for i in s.token_ids]
        assert [next(iter(t)) for t in s.top_logprobs] == names
        assert s.logprob == pytest.approx(sum(next(iter(t.values())) for t in s.top_logprobs))


def test_same_seed_same_samples_whatever_the_batching(tiny, tiny_model):
    cfg = GenerationConfig(n=3, max_new_tokens=12, seed=7, top_logprobs=2)
    a = tiny.generate(PROMPTS, cfg)
    assert tiny.generate(PROMPTS, cfg) == a
    wide = TransformersBackend.from_pretrained(tiny_model, batch_size=64, source="tiny")
    b = wide.generate(PROMPTS, cfg)
    assert [s.token_ids for s in b] == [s.token_ids for s in a]
    np.testing.assert_allclose([s.logprob for s in b], [s.logprob for s in a], atol=1e-4)
    # a prompt's samples do not depend on the other prompts
    alone = tiny.generate(PROMPTS[1:], cfg)
    assert [s.token_ids for s in alone] == [s.token_ids for s in a[3:]]
    other = tiny.generate(PROMPTS, GenerationConfig(n=3, max_new_tokens=12, seed=8))
    assert [s.token_ids for s in other] != [s.token_ids for s in a]


def test_global_torch_rng_is_untouched(tiny):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny.generate(PROMPTS[:1], GenerationConfig(n=2, max_new_tokens=5))
    assert torch.equal(torch.rand(3), expected)


def test_greedy_and_tiny_top_p_agree(tiny):
    greedy = tiny.generate(PROMPTS, GenerationConfig(n=2, max_new_tokens=8, temperature=0.0))
    nucleus = tiny.generate(PROMPTS, GenerationConfig(n=2, max_new_tokens=8, top_p=1e-9))
    assert [s.token_ids for s in nucleus] == [s.token_ids for s in greedy]
    assert greedy[0].token_ids == greedy[1].token_ids  # n greedy samples are one path


def test_top_p_only_draws_from_the_nucleus():
    from rewardshift.generate.sampling import _choose

    logp = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64)).repeat(400, 1)
    u = torch.from_numpy(np.random.default_rng(0).random(400))
    drawn = _choose(logp, u, 1.0, 0.75).tolist()  # nucleus {0, 1}: mass 0.8 >= 0.75
    assert set(drawn) == {0, 1}
    assert abs(drawn.count(0) / 400 - 0.5 / 0.8) < 0.08
    full = _choose(logp, u, 1.0, 1.0).tolist()
    assert set(full) == {0, 1, 2, 3}


def test_score_matches_generation_for_stopped_samples(tiny):
    samples = tiny.generate(PROMPTS, GenerationConfig(n=8, max_new_tokens=30, seed=4))
    tok = tiny.tokenizer
    # score re-encodes the text, so compare where the text re-encodes to the same ids
    same = [s for s in samples
            if tok(s.text, add_special_tokens=False)["input_ids"]
            == list(s.token_ids[:-1] if s.meta["finish_reason"] == "stop" else s.token_ids)]
    assert same, "no sample re-encodes to its own ids"
    for eos in (True, False):
        subset = [s for s in same if (s.meta["finish_reason"] == "stop") == eos]
        if not subset:
            continue
        got = tiny.score([s.prompt for s in subset], [s.text for s in subset], eos=eos)
        np.testing.assert_allclose(got, [s.logprob for s in subset], atol=1e-4)


def test_score_checks_its_inputs(tiny):
    with pytest.raises(InputError, match="2 prompts but 1 completions"):
        tiny.score(["a", "b"], ["c"])
    assert tiny.score([], []).shape == (0,)


def test_chat_template_and_system_prompt(tiny):
    with pytest.raises(GenerationError, match="no chat template; use GenerationConfig"):
        tiny.generate(PROMPTS, GenerationConfig(chat=True))
    tok = tiny.tokenizer
    tok.chat_template = ("{% for m in messages %}{{ m['content'] }} {% endfor %}"
                         "{% if add_generation_prompt %}Answer:{% endif %}")
    try:
        cfg = GenerationConfig(chat=True, system_prompt="Be brief.", max_new_tokens=3)
        ids = tiny.encode_prompt("Write a product review.", cfg)
        rendered = "Be brief. Write a product review. Answer:"
        assert ids == tok(rendered, add_special_tokens=False)["input_ids"]
        assert tiny.encode_prompt("Write a product review.") != ids  # chat off: plain
        (s,) = tiny.generate(PROMPTS[:1], cfg)
        assert s.logprob < 0
    finally:
        tok.chat_template = None


def test_bad_inputs(tiny, tmp_path):
    with pytest.raises(InputError, match="appears twice"):
        tiny.generate([("a", "x"), ("a", "y")], GenerationConfig())
    with pytest.raises(InputError, match="over the model's 64 positions; shorten"):
        tiny.generate(PROMPTS, GenerationConfig(max_new_tokens=60))
    with pytest.raises(InputError, match="batch_size=0"):
        TransformersBackend(tiny.model, tiny.tokenizer, source="x", batch_size=0)
    with pytest.raises(GenerationError, match="cannot load a causal LM from"):
        TransformersBackend.from_pretrained(tmp_path / "missing")


def test_repr_is_short(tiny):
    assert repr(tiny) == "TransformersBackend(source='tiny', batch_size=4)"


@pytest.mark.slow
def test_gguf_file_loads_smollm2_and_generates(smollm2_gguf):
    """SmolLM2-135M-Instruct from its GGUF (de-quantised by transformers): ~1-2 min on 2 cores."""
    pytest.importorskip("gguf", reason="pip install gguf")
    b = TransformersBackend.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name)
    assert b.source == smollm2_gguf.name
    cfg = GenerationConfig(n=2, max_new_tokens=4, chat=True, system_prompt="Be brief.", seed=0,
                           top_logprobs=2)
    samples = b.generate([("hi", "Say hello.")], cfg)
    assert samples == b.generate([("hi", "Say hello.")], cfg)
    assert all(s.logprob < 0 and len(s.token_ids) <= 4 for s in samples)
    im_end = b.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in b._eos
    same = TransformersBackend.from_pretrained(smollm2_gguf)  # a path to the .gguf itself
    greedy = GenerationConfig(max_new_tokens=4, temperature=0.0)
    assert same.generate(["The capital of France is"], greedy) == [
        dataclasses.replace(s, source=same.source)
        for s in b.generate(["The capital of France is"], greedy)]
