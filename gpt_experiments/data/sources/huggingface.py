"""Hugging Face ``datasets``: a folder saved with ``save_to_disk``, local data files, or a hub name.

``streaming: true`` reads a hub dataset (or data files) record by record without
downloading it first: the way to tokenize a corpus larger than the disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gpt_experiments.data.file_digests import FileDigests, files_digest
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.sources.text_files import resolve_files
from gpt_experiments.errors import DataError

# A suffix of data files -> the datasets builder that reads them.
BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
# What save_to_disk leaves in a folder (a Dataset, or a DatasetDict of them).
SAVED_MARKERS = ("state.json", "dataset_dict.json")


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
    ) -> None:
        if (path is None) == (dataset_name is None):
            raise DataError(
                "data=huggingface needs exactly one of data.path (a saved dataset folder or data files) "
                "and data.dataset_name (a hub dataset): set one, null the other"
            )
        self.path, self.name, self.config = path, dataset_name, dataset_config
        self.split, self.text_field, self.streaming = dataset_split, text_field, streaming
        self.saved = is_saved_dataset(path)
        if self.saved:
            self.files = sorted(p for p in Path(path).rglob("*") if p.is_file())
        elif path is not None:
            self.files = resolve_files(path, set(BUILDERS), "data")

    def fingerprint(self, digests: FileDigests | None = None) -> str:
        settings = f"{self.text_field}|{self.split}"
        if self.path is not None:
            return f"hf-files:{files_digest(self.files, settings, digests)}"
        # A hub dataset's bytes cannot be hashed without reading it all: name, config and split
        # stand for its content (pin a revision in the name, e.g. "user/data@<commit>", to be exact).
        return f"hf-hub:{self.name}|{self.config}|{settings}"

    def load(self) -> Any:
        datasets = import_datasets()
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
            return datasets.load_dataset(builder, data_files=files, split="train", streaming=self.streaming)
        name, _, revision = self.name.partition("@")
        return datasets.load_dataset(
            name, self.config, split=self.split, streaming=self.streaming, revision=revision or None
        )

    def documents(self) -> Iterator[str]:
        dataset = self.load()
        names = dataset.column_names
        if names is not None and self.text_field not in names:
            raise DataError(
                f"the dataset has no column {self.text_field!r} (has: {', '.join(names)}): "
                "set data.text_field to the column holding the text"
            )
        for row in dataset.select_columns([self.text_field]):
            if text := row[self.text_field]:
                yield text
