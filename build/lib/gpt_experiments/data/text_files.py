"""Finding the text files a data config points at."""

from __future__ import annotations

import glob
from pathlib import Path

from gpt_experiments.errors import DataError

TEXT_SUFFIXES = {".txt", ".md", ".text"}


def resolve_text_files(paths: str | list[str]) -> list[Path]:
    """Expand files, directories (their text files, recursively) and globs, in a stable order."""
    patterns = [paths] if isinstance(paths, str) else list(paths)
    if not patterns:
        raise DataError("data.path is empty: give a text file, a directory or a glob")
    files: list[Path] = []
    for pattern in patterns:
        pattern = str(Path(pattern).expanduser())
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise DataError(f"data.path glob {pattern!r} matches no file: check the pattern")
            files.extend(matches)
        elif Path(pattern).is_dir():
            matches = sorted(p for p in Path(pattern).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
            if not matches:
                raise DataError(
                    f"data.path directory {pattern} holds no text files ({', '.join(sorted(TEXT_SUFFIXES))})"
                )
            files.extend(matches)
        elif Path(pattern).is_file():
            files.append(Path(pattern))
        else:
            raise DataError(
                f"data.path {pattern} does not exist: point data.path at a text file, directory or glob"
            )
    return files
