"""Tokenizers for the lexical metrics.

Lexical metrics (distinct-n, EAD, self-BLEU, ROUGE-L) count tokens, so their values depend on
the tokenizer; every summary records which one was used.

* ``"word"`` (default): Unicode word tokens and single punctuation marks, lower-cased
  (regex ``\\w+|[^\\w\\s]``). Open vocabulary: ``vocab_size`` is ``None``.
* ``"word-cased"``: the same tokens with their case kept.
* ``"whitespace"``: ``str.split()`` -- runs of non-space characters, case and punctuation
  kept, as papers that split on whitespace count (e.g. distinct-n of Li et al. 2016 as often
  reimplemented, Self-BLEU in Texygen, Zhu et al. 2018).
* any Hugging Face tokenizer by local path or hub name (needs ``transformers``); its
  ``vocab_size`` is the tokenizer's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rewardshift._exceptions import InputError, MissingDependencyError

__all__ = ["BUILTIN", "HFTokenizer", "Tokenizer", "WhitespaceTokenizer", "WordTokenizer",
           "get_tokenizer", "tokenize_all"]

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class Tokenizer(Protocol):
    """Anything that splits text into string tokens and knows its vocabulary size."""

    # read-only here, so that frozen dataclasses satisfy the protocol
    @property
    def name(self) -> str: ...

    @property
    def vocab_size(self) -> int | None: ...

    def __call__(self, text: str) -> list[str]: ...


@dataclass(frozen=True)
class WordTokenizer:
    """Lower-cased Unicode words and punctuation marks; an open vocabulary."""

    name: str = "word"
    vocab_size: int | None = None
    lowercase: bool = True

    def __call__(self, text: str) -> list[str]:
        return _WORD.findall(text.lower() if self.lowercase else text)


@dataclass(frozen=True)
class WhitespaceTokenizer:
    """``str.split()``: runs of non-whitespace, case and punctuation kept; an open vocabulary."""

    name: str = "whitespace"
    vocab_size: int | None = None

    def __call__(self, text: str) -> list[str]:
        return text.split()


#: The tokenizers built in, by name; any other name is a Hugging Face tokenizer.
BUILTIN: dict[str, Tokenizer] = {
    "word": WordTokenizer(),
    "word-cased": WordTokenizer(name="word-cased", lowercase=False),
    "whitespace": WhitespaceTokenizer(),
}


class HFTokenizer:
    """A Hugging Face tokenizer (local path, or hub name where a hub is reachable)."""

    def __init__(self, name_or_path: str) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on extras
            raise MissingDependencyError("transformers", "lm") from exc
        try:
            self._tok = AutoTokenizer.from_pretrained(name_or_path)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot load tokenizer {name_or_path!r} ({exc}); give a local folder with "
                f"tokenizer files, or one of the built-in ones: {', '.join(BUILTIN)}"
            ) from exc
        self.name = name_or_path
        self.vocab_size: int | None = len(self._tok)

    def __call__(self, text: str) -> list[str]:
        return self._tok.tokenize(text)


def get_tokenizer(spec: str | Tokenizer | None = None) -> Tokenizer:
    """``None`` → ``"word"``; a name in :data:`BUILTIN` → that one; another string →
    :class:`HFTokenizer`; a tokenizer object → itself."""
    if spec is None:
        return BUILTIN["word"]
    if isinstance(spec, str) and spec in BUILTIN:
        return BUILTIN[spec]
    if isinstance(spec, str):
        return HFTokenizer(spec)
    return spec


def tokenize_all(texts: Sequence[str], tokenizer: Callable[[str], list[str]] | None = None
                 ) -> list[list[str]]:
    """Tokenize every text with ``tokenizer`` (default :class:`WordTokenizer`)."""
    tok = tokenizer or WordTokenizer()
    return [tok(t) for t in texts]
