"""Builders of a tiny, randomly initialised language model and its word-level tokenizer.

Nothing is downloaded: the tokenizer is built with ``tokenizers`` (WordLevel + WhitespaceSplit)
over a fixed vocabulary and the model is a one-layer GPT-2 from its config, seeded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

WORDS = [f"w{i}" for i in range(44)] + ["the", "a", "good", "bad"]
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_tokenizer(save_to: str | Path | None = None):
    """A word-level ``PreTrainedTokenizerFast`` over :data:`WORDS` plus pad / eos / unk."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *WORDS])}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = WhitespaceSplit()  # no decoder: decode joins tokens with spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS,
                                  bos_token=EOS, unk_token=UNK, padding_side="left")
    if save_to is not None:
        tok.save_pretrained(str(save_to))
    return tok


def build_model(tokenizer, *, n_layer: int = 1, n_embd: int = 32, n_head: int = 2,
                n_positions: int = 64, seed: int = 0):
    """A randomly initialised ``GPT2LMHeadModel`` sized to ``tokenizer`` (seeded)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                        n_positions=n_positions, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    return GPT2LMHeadModel(config)


@pytest.fixture
def tiny_tokenizer(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    return build_tokenizer(tmp_path / "tokenizer")


@pytest.fixture
def torch_one_thread():
    """Run torch on one thread: on a busy 2-core machine OpenMP threads spin-wait, and a model
    this small ran ~100x slower per op on 2 threads (cf. ``RewardModelConfig.num_threads``)."""
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
