"""Where a corpus comes from: a ``data.source`` name -> a :class:`TextSource` of documents.

Pre-tokenized sources (nanoGPT ``.bin``, llm.c shards) skip tokenization altogether;
see :mod:`gpt_experiments.data.pretokenized`.
"""

from __future__ import annotations

from typing import Any

from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.sources.huggingface import HuggingFaceDataset
from gpt_experiments.data.sources.jsonl import JsonLines
from gpt_experiments.data.sources.parquet import ParquetFiles
from gpt_experiments.data.sources.text_files import TextFiles
from gpt_experiments.errors import DataError

TEXT_SOURCES = ("text", "jsonl", "parquet", "huggingface")
PRETOKENIZED_SOURCES = ("llmc", "nanogpt_bin")


def make_text_source(source: str, path: Any, **options: Any) -> TextSource:
    """Build the named source from the data config's settings (each takes the ones it needs)."""
    if source == "text":
        return TextFiles(path, options["encoding_errors"])
    if source == "jsonl":
        return JsonLines(path, options["text_field"], options["encoding_errors"])
    if source == "parquet":
        return ParquetFiles(path, options["text_field"])
    if source == "huggingface":
        return HuggingFaceDataset(
            path,
            options["dataset_name"],
            options["dataset_config"],
            options["dataset_split"],
            options["text_field"],
            options["streaming"],
            options["encoding_errors"],
        )
    raise DataError(
        f"data.source={source!r} is unknown: choose from {', '.join(TEXT_SOURCES + PRETOKENIZED_SOURCES)}"
    )
