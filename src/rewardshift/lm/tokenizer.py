"""A word-level tokenizer for the text grammar, in the standard Hugging Face format.

The tokenizer is a ``tokenizers`` WordLevel model behind GPT-2's byte-level pre-tokenizer and
decoder (Radford et al. 2019): a word keeps its leading space (``"Ġnurse"``), punctuation is
split off, and decoding is the exact inverse of encoding. Its vocabulary is every word of every
field surface of the grammar in the context where it occurs, plus the prompts, so every text of
the grammar encodes without ``<unk>`` and -- because the grammar's tokenisation is unique -- a
language model's probability of a token sequence *is* its probability of the text.

Conventions shared by pretraining, TRL and scoring:

* a completion is the text with one leading space, ``" " + text``; ``prompt + completion`` then
  encodes as ``encode(prompt) + encode(completion)`` (tested on the whole grammar), so TRL's
  ``prompt + chosen`` tokenisation and ours agree;
* ``<|endoftext|>`` ends every completion (it is also BOS, as in GPT-2); ``<pad>`` pads; no
  special token is added when encoding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from rewardshift._exceptions import MissingDependencyError
from rewardshift.lm.grammar import PROMPTS, TextGrammar

__all__ = ["EOS", "PAD", "UNK", "build_tokenizer", "completion_text", "coverage_texts"]

PAD, EOS, UNK = "<pad>", "<|endoftext|>", "<unk>"


def completion_text(text: str) -> str:
    """The completion string of a grammar text: one leading space (GPT-2 convention)."""
    return " " + text


def coverage_texts(grammar: TextGrammar) -> Iterator[str]:
    """Texts that together contain every word of the grammar in its context, and the prompts.

    For each field of each kind and each of its surfaces, the template is rendered with that
    surface and the first surface of every other field (such a text may be out of the grammar;
    it only has to show the words). About 150 texts instead of the 504,864 of the support.
    """
    for pairs in PROMPTS.values():
        for _, prompt in pairs:
            yield prompt
    for kg in grammar.grammars.values():
        first = {name: next(iter(f.surfaces.values())) for name, f in kg.fields.items()}
        for name, f in kg.fields.items():
            for surface in f.surfaces.values():
                yield completion_text(kg.template.format(**{**first, name: surface}))


def build_tokenizer(grammar: TextGrammar | None = None, save_to: str | os.PathLike[str] | None = None):
    """Train the word-level tokenizer on the grammar's vocabulary.

    Parameters
    ----------
    grammar : TextGrammar, optional
        The grammar (default ``TextGrammar()``).
    save_to : path, optional
        Directory to save it in (``AutoTokenizer.from_pretrained(save_to)`` loads it).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        With ``pad_token="<pad>"``, ``eos_token = bos_token = "<|endoftext|>"``,
        ``unk_token="<unk>"``, padding on the right.
    """
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError("transformers", "lm") from e
    grammar = grammar or TextGrammar()
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, EOS, UNK], min_frequency=1,
                                        show_progress=False)
    tok.train_from_iterator(coverage_texts(grammar), trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS,
                                 bos_token=EOS, unk_token=UNK, padding_side="right",
                                 model_max_length=64)
    if save_to is not None:
        hf.save_pretrained(Path(save_to))
    return hf
