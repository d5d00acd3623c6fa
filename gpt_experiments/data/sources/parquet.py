"""Parquet files: the ``text_field`` column, read one row group at a time (never a whole file)."""

from __future__ import annotations

from collections.abc import Iterator

from gpt_experiments.data.file_digests import FileDigests, files_digest
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.sources.text_files import resolve_files
from gpt_experiments.errors import DataError

PARQUET_SUFFIXES = {".parquet"}


def import_pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("data=parquet needs pyarrow: pip install 'gpt-experiments[data]'") from None
    return pq


class ParquetFiles(TextSource):
    def __init__(self, path: str | list[str], text_field: str = "text") -> None:
        self.files = resolve_files(path, PARQUET_SUFFIXES, "Parquet")
        self.text_field = text_field

    def fingerprint(self, digests: FileDigests | None = None) -> str:
        return f"parquet:{files_digest(self.files, self.text_field, digests)}"

    def documents(self) -> Iterator[str]:
        pq = import_pyarrow_parquet()
        for path in self.files:
            parquet = pq.ParquetFile(path)
            columns = parquet.schema_arrow.names
            if self.text_field not in columns:
                raise DataError(
                    f"{path} has no column {self.text_field!r} (has: {', '.join(columns)}): "
                    "set data.text_field to the column holding the text"
                )
            # A row group is Parquet's unit of storage: memory holds one group's column at a time.
            for group in range(parquet.num_row_groups):
                column = parquet.read_row_group(group, columns=[self.text_field]).column(0)
                for text in column.to_pylist():
                    if text:
                        yield text
