"""Characters as tokens, nanoGPT's character-level Shakespeare style.

The vocabulary is every character of the corpus' documents, sorted (those of a document
that quotes ``<|endoftext|>`` too), plus the end-of-text token as the last id (it separates
documents). It is built from the corpus when a run starts and
saved as a string in the checkpoint, so generation decodes with exactly those ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpt_experiments.errors import ConfigError, DataError
from gpt_experiments.tokenizer.base import END_OF_TEXT, CorpusPiece, Tokenizer


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars: str) -> None:
        if not chars or len(set(chars)) != len(chars):
            raise ConfigError("a char tokenizer needs distinct characters: the saved vocabulary is damaged")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}
        self.eot_id = len(chars)
        self.vocab_size = len(chars) + 1

    @classmethod
    def from_corpus(cls, pieces: Iterable[CorpusPiece]) -> CharTokenizer:
        """From a corpus stream: its text's characters (a document break holds none)."""
        seen: set[str] = set()
        for piece in pieces:
            if isinstance(piece, str):
                seen.update(piece)
        if not seen:
            raise DataError("the corpus has no characters to build a char tokenizer from: give some text")
        return cls("".join(sorted(seen)))

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for index, piece in enumerate(text.split(END_OF_TEXT)):
            if index:
                ids.append(self.eot_id)
            ids.extend(self.encode_ordinary(piece))
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        try:
            return [self._ids[c] for c in text]
        except KeyError as err:
            raise DataError(
                f"character {err.args[0]!r} is not in the char tokenizer's vocabulary, built from the "
                "training corpus: remove it from the text, or train on a corpus that has it"
            ) from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] if i < self.eot_id else END_OF_TEXT for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return self.chars[token_id].encode("utf-8") if token_id < self.eot_id else b""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": self.chars}
