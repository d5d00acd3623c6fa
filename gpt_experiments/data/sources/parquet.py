"""Parquet files: the ``text_field`` column, read one row group at a time (never a whole file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gpt_experiments.data.file_digests import FileDigests, files_digest
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.sources.text_files import resolve_files
from gpt_experiments.errors import DataError, refusal_reason

PARQUET_SUFFIXES = {".parquet"}


def import_pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401  (makes pa.parquet available)
    except ImportError:
        raise DataError("data=parquet needs pyarrow: pip install 'gpt-experiments[data]'") from None
    return pa


def unreadable_parquet(path: Path, err: Exception) -> DataError:
    return DataError(
        f"{path} is not a readable Parquet file ({refusal_reason(err)}): it is truncated, corrupt or "
        "of another format; write it again, or leave it out of data.path"
    )


class ParquetFiles(TextSource):
    def __init__(self, path: str | list[str], text_field: str = "text") -> None:
        self.files = resolve_files(path, PARQUET_SUFFIXES, "Parquet")
        self.text_field = text_field

    def fingerprint(self, digests: FileDigests | None = None) -> str:
        return f"parquet:{files_digest(self.files, self.text_field, digests)}"

    def documents(self) -> Iterator[str]:
        pa = import_pyarrow()
        for path in self.files:
            try:
                yield from self._file_documents(pa, path)
            except pa.ArrowException as err:  # also raised by a damaged row group, half-way through
                raise unreadable_parquet(path, err) from None

    def _file_documents(self, pa, path: Path) -> Iterator[str]:
        parquet = pa.parquet.ParquetFile(path)
        schema = parquet.schema_arrow
        if self.text_field not in schema.names:
            raise DataError(
                f"{path} has no column {self.text_field!r} (has: {', '.join(schema.names)}): "
                "set data.text_field to the column holding the text"
            )
        kind = schema.field(self.text_field).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            texts = [name for name in schema.names if pa.types.is_string(schema.field(name).type)]
            raise DataError(
                f"{path} column {self.text_field!r} holds {kind}, not text: set data.text_field to the "
                f"column holding the text (string columns: {', '.join(texts) or 'none'})"
            )
        # A row group is Parquet's unit of storage: memory holds one group's column at a time.
        for group in range(parquet.num_row_groups):
            column = parquet.read_row_group(group, columns=[self.text_field]).column(0)
            for text in column.to_pylist():
                if text:
                    yield text
