"""Plain text files: each file is one document (today's ``data=text``)."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from gpt_experiments.data.file_digests import FileDigests, files_digest
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.text_stream import corpus_text, read_blocks
from gpt_experiments.errors import DataError, missing_reason
from gpt_experiments.tokenizer import CorpusPiece

TEXT_SUFFIXES = {".txt", ".md", ".text"}


def resolve_files(
    paths: str | list[str], suffixes: set[str] = TEXT_SUFFIXES, noun: str = "text"
) -> list[Path]:
    """Expand files, directories (their files with ``suffixes``, recursively) and globs, in a stable order."""
    patterns = [paths] if isinstance(paths, str) else list(paths)
    if not patterns:
        raise DataError(f"data.path is empty: give a {noun} file, a directory or a glob")
    files: list[Path] = []
    for pattern in patterns:
        pattern = str(Path(pattern).expanduser())
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise DataError(f"data.path glob {pattern!r} matches no file: check the pattern")
            files.extend(matches)
        elif Path(pattern).is_dir():
            matches = sorted(p for p in Path(pattern).rglob("*") if p.is_file() and p.suffix in suffixes)
            if not matches:
                raise DataError(
                    f"data.path directory {pattern} holds no {noun} files ({', '.join(sorted(suffixes))})"
                )
            files.extend(matches)
        elif Path(pattern).is_file():
            files.append(Path(pattern))
        else:
            raise DataError(
                f"data.path {pattern} {missing_reason(Path(pattern))}: point data.path at a {noun} file, "
                "directory or glob"
            )
    return files


class TextFiles(TextSource):
    def __init__(self, path: str | list[str], encoding_errors: str = "strict") -> None:
        self.files = resolve_files(path)
        self.encoding_errors = encoding_errors

    def fingerprint(self, digests: FileDigests | None = None) -> str:
        settings = f"errors:{self.encoding_errors}"
        return f"text:{files_digest(self.files, settings, digests, require_text=True)}"

    def documents(self) -> Iterator[str]:
        for path in self.files:
            yield "".join(read_blocks(path, self.encoding_errors))

    def stream(self) -> Iterator[CorpusPiece]:
        # Block by block: one file larger than memory streams through the character split.
        return corpus_text(self.files, self.encoding_errors)
