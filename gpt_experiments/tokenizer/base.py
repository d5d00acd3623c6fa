"""What every tokenizer offers the rest of the package.

A tokenizer turns text into ids and back, says how many ids there are and which one
ends a document, and can be written as a plain dict (strings, numbers, lists, dicts) that
rebuilds it exactly. That dict is saved in checkpoints, which are loaded with
``torch.load(weights_only=True)``, and hashed into the token cache's key.

Two ways to encode: a corpus's documents are ordinary text (:meth:`Tokenizer.encode_ordinary`),
so a page that quotes ``<|endoftext|>`` trains on those characters, and the separator between
documents is inserted as an id (:meth:`Tokenizer.encode_documents`), never as text. A prompt
(:meth:`Tokenizer.encode`) is typed by a user, who may mean ``<|endoftext|>`` as the token.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gpt_experiments.errors import ConfigError

# The end-of-text token's text: a prompt may type it; a corpus separates documents by its id.
END_OF_TEXT = "<|endoftext|>"


class DocumentBreak:
    """Where one document of a corpus stream ends and the next begins: not text, so no
    document can produce it. Tokenized as the separator id (:meth:`Tokenizer.encode_documents`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DOCUMENT_BREAK"

    def __reduce__(self) -> str:
        # Unpickled (in a tokenizing worker process) as the module's one instance.
        return "DOCUMENT_BREAK"


DOCUMENT_BREAK = DocumentBreak()
# A piece of a corpus stream: some of a document's text, or the break between two documents.
CorpusPiece = str | DocumentBreak


class Tokenizer(ABC):
    #: The ``kind`` key of :meth:`to_dict` (``gpt2``, ``tiktoken``, ``huggingface``, ``char``).
    kind: str
    vocab_size: int
    #: The id ``<|endoftext|>`` becomes, or None when the vocabulary has no such token.
    eot_id: int | None

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of a prompt; ``<|endoftext|>`` in it is :attr:`eot_id` when there is one."""

    @abstractmethod
    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of a document's text: all of it is text, ``<|endoftext|>`` and other special
        tokens' text included (as tiktoken's ``encode_ordinary``, which llm.c and nanoGPT use)."""

    def encode_documents(self, pieces: Iterable[CorpusPiece]) -> list[int]:
        """Ids of a stretch of a corpus stream: text as :meth:`encode_ordinary`, each
        :data:`DOCUMENT_BREAK` as :attr:`eot_id`."""
        ids: list[int] = []
        for piece in pieces:
            if isinstance(piece, str):
                ids.extend(self.encode_ordinary(piece))
            else:
                ids.append(self.separator_id())
        return ids

    def separator_id(self) -> int:
        """:attr:`eot_id`, which a corpus of several documents needs between them."""
        if self.eot_id is None:
            raise ConfigError(
                f"the corpus has several documents but {self.describe()} has no {END_OF_TEXT} "
                "token to separate them: add it to the tokenizer, or give a corpus of one document"
            )
        return self.eot_id

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
        return from_saved, (self.to_dict(),)

    def describe(self) -> str:
        return f"the {self.kind} tokenizer ({self.vocab_size} tokens)"


# Each kind's builder from a saved form (``Tokenizer.to_dict()``), filled in by
# ``gpt_experiments.tokenizer.build``, which the package imports: this module rebuilds a
# pickled tokenizer without importing the kinds that import it.
BUILDERS: dict[str, Callable[[dict[str, Any]], Tokenizer]] = {}


def from_saved(saved: dict[str, Any]) -> Tokenizer:
    """The tokenizer a ``to_dict()`` form describes, built by its kind's registered builder."""
    return BUILDERS[saved["kind"]](saved)


def read_tokenizer_file(path: Path, encoding: str, kind: str) -> str:
    """The text of a tokenizer file; one that is not ``encoding`` text is a one-line error."""
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"tokenizer.path={path} is not {encoding} text (byte {err.start}): give a {kind} file"
        ) from None
