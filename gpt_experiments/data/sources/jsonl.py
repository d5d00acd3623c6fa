"""JSON Lines: one JSON object per line, its ``text_field`` a document (OpenWebText, FineWeb dumps)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from gpt_experiments.data.file_digests import FileDigests, files_digest
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.sources.text_files import resolve_files
from gpt_experiments.data.text_stream import read_lines
from gpt_experiments.errors import DataError

JSONL_SUFFIXES = {".jsonl", ".json"}


class JsonLines(TextSource):
    def __init__(
        self, path: str | list[str], text_field: str = "text", encoding_errors: str = "strict"
    ) -> None:
        self.files = resolve_files(path, JSONL_SUFFIXES, "JSON Lines")
        self.text_field = text_field
        self.encoding_errors = encoding_errors

    def fingerprint(self, digests: FileDigests | None = None) -> str:
        settings = f"{self.text_field}|errors:{self.encoding_errors}"
        return f"jsonl:{files_digest(self.files, settings, digests)}"

    def documents(self) -> Iterator[str]:
        for path in self.files:
            # Line by line: files may exceed memory.
            for number, line in read_lines(path, self.encoding_errors):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(
                        f"{path} line {number} is not JSON ({err.msg}): fix or remove it"
                    ) from None
                text = record.get(self.text_field) if isinstance(record, dict) else None
                if not isinstance(text, str):
                    keys = ", ".join(record) if isinstance(record, dict) else type(record).__name__
                    raise DataError(
                        f"{path} line {number} has no string field {self.text_field!r} (has: {keys}): "
                        "set data.text_field to the field holding the text"
                    )
                if text:
                    yield text
