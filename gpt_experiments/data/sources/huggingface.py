"""Hugging Face ``datasets``: a folder saved with ``save_to_disk``, local data files, or a hub name.

``streaming: true`` reads a hub dataset (or data files) record by record without
downloading it first: the way to tokenize a corpus larger than the disk.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gpt_experiments.data.file_digests import FileDigests, files_digest
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.sources.text_files import resolve_files
from gpt_experiments.data.text_stream import read_lines
from gpt_experiments.errors import DataError, UserError, refusal_reason

# A suffix of data files -> the datasets builder that reads them.
BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
# What save_to_disk leaves in a folder (a Dataset, or a DatasetDict of them).
SAVED_MARKERS = ("state.json", "dataset_dict.json")
# Builders that decode text themselves, and so take data.encoding_errors.
DECODING_BUILDERS = ("json", "csv")


def import_datasets():
    try:
        import datasets
    except ImportError:
        raise DataError("data=huggingface needs datasets: pip install 'gpt-experiments[data]'") from None
    return datasets


def is_saved_dataset(path: str | list[str] | None) -> bool:
    return isinstance(path, str) and any((Path(path) / marker).is_file() for marker in SAVED_MARKERS)


class HuggingFaceDataset(TextSource):
    def __init__(
        self,
        path: str | list[str] | None = None,
        dataset_name: str | None = None,
        dataset_config: str | None = None,
        dataset_split: str = "train",
        text_field: str = "text",
        streaming: bool = False,
        encoding_errors: str = "strict",
    ) -> None:
        if (path is None) == (dataset_name is None):
            raise DataError(
                "data=huggingface needs exactly one of data.path (a saved dataset folder or data files) "
                "and data.dataset_name (a hub dataset): set one, null the other"
            )
        self.path, self.name, self.config = path, dataset_name, dataset_config
        self.split, self.text_field, self.streaming = dataset_split, text_field, streaming
        self.encoding_errors = encoding_errors
        self.saved = is_saved_dataset(path)
        if self.saved:
            self.files = sorted(p for p in Path(path).rglob("*") if p.is_file())
        elif path is not None:
            self.files = resolve_files(path, set(BUILDERS), "data")

    def fingerprint(self, digests: FileDigests | None = None) -> str:
        settings = f"{self.text_field}|{self.split}|errors:{self.encoding_errors}"
        if self.path is not None:
            return f"hf-files:{files_digest(self.files, settings, digests)}"
        # A hub dataset's bytes cannot be hashed without reading it all: name, config and split
        # stand for its content (pin a revision in the name, e.g. "user/data@<commit>", to be exact).
        return f"hf-hub:{self.name}|{self.config}|{settings}"

    def load(self, datasets: Any, scratch: str) -> Any:
        """The dataset; ``datasets``' own files for local data files go to ``scratch`` (its
        cache would otherwise keep a copy of them, and lock files even when loading fails)."""
        if self.saved:
            loaded = datasets.load_from_disk(self.path)
            if isinstance(loaded, datasets.DatasetDict):
                if self.split not in loaded:
                    raise DataError(
                        f"{self.path} has no split {self.split!r} (has: {', '.join(loaded)}): "
                        "set data.dataset_split"
                    )
                loaded = loaded[self.split]
            return loaded.to_iterable_dataset() if self.streaming else loaded
        if self.path is not None:
            suffixes = {p.suffix for p in self.files}
            if len(suffixes) != 1:
                raise DataError(f"data.path mixes file types {sorted(suffixes)}: give files of one type")
            builder = BUILDERS[suffixes.pop()]
            files = [str(p) for p in self.files]
            decoding = {"encoding_errors": self.encoding_errors} if builder in DECODING_BUILDERS else {}
            return datasets.load_dataset(
                builder,
                data_files=files,
                split="train",
                streaming=self.streaming,
                cache_dir=scratch,
                **decoding,
            )
        name, _, revision = self.name.partition("@")
        return datasets.load_dataset(
            name, self.config, split=self.split, streaming=self.streaming, revision=revision or None
        )

    def documents(self) -> Iterator[str]:
        datasets = import_datasets()
        with tempfile.TemporaryDirectory(prefix="gpt-experiments-datasets-") as scratch:
            try:
                yield from self._documents(self.load(datasets, scratch))
            except UserError:
                raise
            except (ValueError, OSError, datasets.exceptions.DatasetGenerationError) as err:
                if isinstance(err, OSError) and err.errno is not None and err.filename is not None:
                    raise  # a file system's refusal, already one line naming the file
                raise self.unreadable(err) from None

    def unreadable(self, err: BaseException) -> DataError:
        """What the datasets library refused, by its innermost cause (its own wrapper says nothing)."""
        while err.__cause__ is not None:
            err = err.__cause__
        reason = f"{type(err).__name__}: {refusal_reason(err)}"
        if self.path is not None and "JSON" in str(err):
            where = first_invalid_json_line([p for p in self.files if p.suffix in (".json", ".jsonl")])
            reason = f"{reason.rstrip('.')} in {where}" if where else reason
        if self.path is None:
            return DataError(
                f"data.dataset_name={self.name} could not be loaded ({reason}): check the name, the "
                "network, or point data.path at a local copy"
            )
        return DataError(
            f"{self.path} could not be read as a Hugging Face dataset ({reason}): fix or remove the damaged "
            "file, or save the dataset again"
        )

    def _documents(self, dataset: Any) -> Iterator[str]:
        names = dataset.column_names
        if names is not None and self.text_field not in names:
            raise DataError(
                f"the dataset has no column {self.text_field!r} (has: {', '.join(names)}): "
                "set data.text_field to the column holding the text"
            )
        for row in dataset.select_columns([self.text_field]):
            if text := row[self.text_field]:
                yield text


def first_invalid_json_line(files: list[Path]) -> str | None:
    """Where the first JSON that does not parse is (``file line N``): the datasets library
    names only a row of a block, so the file is read again here, line by line. A file is
    JSON Lines or one JSON document, as the library reads ``.json`` and ``.jsonl`` alike."""
    for path in files:
        first = True
        for number, line in read_lines(path, "replace"):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError:
                if not first:
                    return f"{path.name} line {number}"
                where = invalid_json_document_line(path)  # not JSON Lines: maybe one document
                if where is not None:
                    return f"{path.name} line {where}"
                break
            first = False
    return None


def invalid_json_document_line(path: Path) -> int | None:
    """The line where ``path``, read as one JSON document, stops parsing (None: it parses)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            json.load(f)
    except ValueError as err:
        return err.lineno
    return None
