"""What every tokenizer offers the rest of the package.

A tokenizer turns text into ids and back, says how many ids there are and which one
ends a document, and can be written as a plain dict (strings, numbers, lists, dicts) that
rebuilds it exactly. That dict is saved in checkpoints, which are loaded with
``torch.load(weights_only=True)``, and hashed into the token cache's key.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any

import numpy as np

# Separates documents in a corpus; each tokenizer maps it to its end-of-text id, if it has one.
END_OF_TEXT = "<|endoftext|>"


class Tokenizer(ABC):
    #: The ``kind`` key of :meth:`to_dict` (``gpt2``, ``tiktoken``, ``huggingface``, ``char``).
    kind: str
    vocab_size: int
    #: The id ``<|endoftext|>`` becomes, or None when the vocabulary has no such token.
    eot_id: int | None

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of ``text``; ``<|endoftext|>`` in it is :attr:`eot_id` when there is one."""

    @abstractmethod
    def decode(self, ids: list[int]) -> str: ...

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 bytes of text this token stands for; ``b""`` for special tokens.

        For byte-level tokenizers a token may hold part of a character, so concatenating
        these bytes (not decoding tokens one by one) gives the text back.
        """

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Plain containers that :func:`~gpt_experiments.tokenizer.build_tokenizer` rebuilds this from."""

    @cached_property
    def identity(self) -> str:
        """A digest of everything that decides the ids: equal identities tokenize alike."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:32]

    @cached_property
    def byte_lengths(self) -> np.ndarray:
        """``byte_lengths[i]``: UTF-8 bytes of token ``i`` (0 for special tokens), for bits per byte."""
        return np.array([len(self.token_bytes(i)) for i in range(self.vocab_size)], dtype=np.int64)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (e.g. for tokenizing worker processes) as its saved form, rebuilt on arrival.
        from gpt_experiments.tokenizer.build import build_tokenizer

        return build_tokenizer, (self.to_dict(),)

    def describe(self) -> str:
        return f"the {self.kind} tokenizer ({self.vocab_size} tokens)"
