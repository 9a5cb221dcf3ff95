"""Tokenizer, scoring, pretraining, sampling and the gold reward of the tiny-LM world."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardshift._exceptions import InputError
from rewardshift.generate.scoring import encode_pairs, ids_logprobs, sequence_logprobs
from rewardshift.lm.grammar import PROMPTS
from rewardshift.lm.preferences import GoldReward, TextRaterConfig, text_preferences
from rewardshift.lm.pretrain import load_causal_lm
from rewardshift.lm.sampling import decode_completion, sample_completions
from rewardshift.lm.tokenizer import build_tokenizer, completion_text


@pytest.fixture(scope="module")
def tok(grammar):
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    return build_tokenizer(grammar)


def test_tokenizer_round_trips_every_breakage_text_and_sampled_reviews(grammar, tok) -> None:
    texts = [s.text for s in grammar.enumerate("breakage")]
    texts += [s.text for s in grammar.sample(3000, seed=3, kind="review")]
    for t in texts:
        ids = tok(completion_text(t), add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, t
        assert decode_completion(tok, ids + [tok.eos_token_id]) == (t, True)


def test_prompt_plus_completion_encodes_as_the_concatenation(grammar, tok) -> None:
    # TRL tokenises prompt + chosen as one string; our scoring encodes them apart
    for s in grammar.sample(300, seed=4):
        for _, p in PROMPTS[s.kind]:
            joint = tok(p + completion_text(s.text), add_special_tokens=False)["input_ids"]
            parts = (tok(p, add_special_tokens=False)["input_ids"]
                     + tok(completion_text(s.text), add_special_tokens=False)["input_ids"])
            assert joint == parts


def test_tokenizer_saves_in_the_standard_format(tmp_path, grammar) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from transformers import AutoTokenizer

    build_tokenizer(grammar, save_to=tmp_path)
    t = AutoTokenizer.from_pretrained(tmp_path)
    assert (t.pad_token, t.eos_token) == ("<pad>", "<|endoftext|>")
    assert t.decode(t(" A wine glass hits", add_special_tokens=False)["input_ids"]) == \
        " A wine glass hits"


def test_pretraining_lowers_heldout_loss_toward_the_entropy(small_base) -> None:
    _, res = small_base
    for kind in ("review", "breakage"):
        assert res.nll[kind] < 0.5 * res.nll_before[kind]
        assert res.kl[kind] == pytest.approx(res.nll[kind] - res.entropy[kind])
        # cross-entropy >= entropy up to sampling noise
        assert res.nll[kind] > res.entropy[kind] - 4 * res.kl_se[kind]
    assert res.entropy["review"] == pytest.approx(11.30, abs=0.01)


def test_base_loads_with_automodel_and_probabilities_are_normalised(small_base, grammar
                                                                     ) -> None:
    path, _ = small_base
    model, tok = load_causal_lm(path)
    prompt = PROMPTS["breakage"][0][1]
    texts = [s.text for s in grammar.enumerate("breakage")]
    lp = sequence_logprobs(model, tok, [prompt] * len(texts), texts)
    total = float(np.exp(lp).sum())
    assert 0 < total <= 1 + 1e-6  # the grammar's texts are a subset of all sequences


def test_ids_logprobs_equals_a_manual_forward(small_base) -> None:
    import torch

    path, _ = small_base
    model, tok = load_causal_lm(path)
    enc = encode_pairs(tok, ["Write a customer review:"], ["Wei, 40, a farmer from China"])[0]
    got = ids_logprobs(model, [enc], pad_id=tok.pad_token_id)[0]
    with torch.no_grad():
        logits = model(torch.tensor([enc.input_ids])).logits[0]
    lp = torch.log_softmax(logits, -1)
    want = sum(float(lp[t - 1, enc.input_ids[t]]) for t in range(enc.prompt_len,
                                                                 len(enc.input_ids)))
    assert got == pytest.approx(want, abs=1e-4)


def test_ids_logprobs_bounds_the_logits_a_batch_holds(small_base) -> None:
    path, _ = small_base
    model, tok = load_causal_lm(path)
    texts = ["Wei, 40, a farmer from China", "Ana, 31, a nurse from Brazil, loves it",
             "a glass falls", "Tom"] * 3
    enc = encode_pairs(tok, ["Write a customer review:"] * len(texts), texts)
    rows: list[int] = []
    hook = model.register_forward_hook(lambda module, args, output: rows.append(0))
    try:
        whole = ids_logprobs(model, enc, pad_id=tok.pad_token_id)
        n_whole = len(rows)
        vocab = model.get_output_embeddings().weight.shape[0]
        longest = max(len(e.input_ids) for e in enc)
        split = ids_logprobs(model, enc, pad_id=tok.pad_token_id,
                             max_logits=2 * longest * vocab)  # room for two rows
    finally:
        hook.remove()
    assert n_whole == 1 and len(rows) - n_whole == len(texts) // 2
    np.testing.assert_allclose(split, whole, atol=1e-4)


def test_sampling_is_seeded_and_scores_what_was_generated(small_base) -> None:
    import torch

    path, _ = small_base
    model, tok = load_causal_lm(path)
    prompts = ["Describe the glass breaking:", "Write a customer review:"]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = sample_completions(model, tok, prompts, 5, seed=9)
    after = torch.rand(1)
    b = sample_completions(model, tok, prompts, 5, seed=9)
    assert [c.ids for c in a] == [c.ids for c in b]
    assert float(before) == float(after)  # the caller's RNG is untouched
    assert [c.prompt for c in a] == [prompts[0]] * 5 + [prompts[1]] * 5
    for c in a:
        assert c.terminated == (c.ids[-1] == tok.eos_token_id)
    with pytest.raises(InputError):
        sample_completions(model, tok, prompts, 0, seed=0)


def test_gold_reward_floors_what_is_not_a_finished_text_of_the_prompts_kind(grammar) -> None:
    cfg = TextRaterConfig()
    gold = GoldReward(grammar, cfg)
    review = grammar.sample(1, seed=1, kind="review")[0].text
    breakage = grammar.sample(1, seed=1, kind="breakage")[0].text
    rp, bp = PROMPTS["review"][0][1], PROMPTS["breakage"][0][1]
    d = gold.details([rp, rp, bp, rp, "not our prompt"],
                     [review, breakage, breakage, review, review],
                     [True, True, True, False, True])
    assert d["in_grammar"].tolist() == [True, False, True, False, False]
    assert d["gold"][1] == d["gold"][3] == d["gold"][4] == cfg.gold_floor
    f = grammar.features([review])[0]
    w = np.array([cfg.weights[k] for k in ("tidy", "typical", "positive", "iconic")])
    assert d["gold"][0] == pytest.approx(float(f @ w))
    assert d["log_truth"][0] == pytest.approx(grammar.log_prob(review, kind="review"))
    assert math.isinf(d["log_truth"][1])
    with pytest.raises(InputError, match="equal lengths"):
        gold([rp], [review, review])


def test_preferences_are_trl_records_within_one_kind(grammar) -> None:
    recs = text_preferences(grammar, lambda p, t: np.array([grammar.log_prob(x) for x in t]),
                            TextRaterConfig(alpha=0.6), n_texts=200, n_pairs=101, seed=0)
    assert len(recs) == 101
    for r in recs:
        assert grammar.kind_of_prompt(r["prompt"]) == r["kind"]
        for side in ("chosen", "rejected"):
            assert r[side] == " " + r[side + "_text"]
            assert grammar.parse(r[side + "_text"], kind=r["kind"]) is not None
    again = text_preferences(grammar, lambda p, t: np.array([grammar.log_prob(x) for x in t]),
                             TextRaterConfig(alpha=0.6), n_texts=200, n_pairs=101, seed=0)
    assert again == recs
    with pytest.raises(InputError):
        TextRaterConfig(weights={"sparkle": 1.0})
