"""What every text source offers the tokenizing pipeline: documents, one stream, an identity."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from gpt_experiments.data.file_digests import FileDigests
from gpt_experiments.tokenizer import DOCUMENT_BREAK, CorpusPiece


class TextSource(ABC):
    """A corpus of text documents. Tokenizers see text only, so any tokenizer fits any source."""

    @abstractmethod
    def fingerprint(self, digests: FileDigests | None = None) -> str:
        """A string that changes whenever the documents may change (part of the token cache key).

        ``digests`` remembers the digests of files already hashed (the token cache's).
        """

    @abstractmethod
    def documents(self) -> Iterator[str]:
        """The documents in a stable order, empty ones left out."""

    def stream(self) -> Iterator[CorpusPiece]:
        """The corpus as pieces: the documents' text, a break (not text) between two documents."""
        for index, document in enumerate(self.documents()):
            if index:
                yield DOCUMENT_BREAK
            yield document
