"""What every text source offers the tokenizing pipeline: documents, one stream, an identity."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

from gpt_experiments.data.text_stream import BLOCK_BYTES
from gpt_experiments.tokenizer import END_OF_TEXT


class TextSource(ABC):
    """A corpus of text documents. Tokenizers see text only, so any tokenizer fits any source."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A string that changes whenever the documents may change (part of the token cache key)."""

    @abstractmethod
    def documents(self) -> Iterator[str]:
        """The documents in a stable order, empty ones left out."""

    def stream(self) -> Iterator[str]:
        """The corpus as text pieces: the documents joined with ``<|endoftext|>``."""
        for index, document in enumerate(self.documents()):
            if index:
                yield END_OF_TEXT
            yield document


def files_digest(files: Iterable[Path], settings: str) -> str:
    """sha256 of the files' bytes in order, and of the settings that pick text out of them."""
    digest = hashlib.sha256(settings.encode())
    for path in files:
        with open(path, "rb") as f:
            while block := f.read(BLOCK_BYTES):
                digest.update(block)
        digest.update(b"\x00file-end\x00")
    return digest.hexdigest()
