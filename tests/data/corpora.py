"""One small corpus written in every source format the data pipeline reads."""

from __future__ import annotations

import json
from pathlib import Path

# Six documents, long enough for a few 16-token windows in each split.
DOCUMENTS = [
    f"Document {index}: " + " ".join(f"word{index}x{n}" for n in range(40)) + "\n\nThe end."
    for index in range(6)
]


def write_text_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for index, text in enumerate(DOCUMENTS):
        (folder / f"doc{index}.txt").write_text(text, encoding="utf-8")
    return folder


def write_jsonl(path: Path, field: str = "text") -> Path:
    lines = [json.dumps({"id": index, field: text}) for index, text in enumerate(DOCUMENTS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_parquet(path: Path, row_group_size: int = 2) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": list(range(len(DOCUMENTS))), "text": DOCUMENTS})
    pq.write_table(table, path, row_group_size=row_group_size)  # several row groups, read one by one
    return path


def write_saved_dataset(folder: Path) -> Path:
    import datasets

    datasets.Dataset.from_dict({"text": DOCUMENTS}).save_to_disk(str(folder))
    return folder
