"""Writing a corpus's token streams out as llm.c shards or nanoGPT ``.bin`` files.

Streams are copied block by block from their memory maps, so exporting a corpus larger
than memory needs no more memory than one block.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gpt_experiments.data.shards import ShardWriter, release_mapped_pages
from gpt_experiments.data.splits import SPLITS
from gpt_experiments.data.token_view import ConcatenatedTokens
from gpt_experiments.errors import DataError
from gpt_experiments.files import publish_folder, staging_folder

EXPORT_FORMATS = ("llmc", "nanogpt_bin")
COPY_TOKENS = 1 << 22  # tokens per block copied (8 MiB of uint16)


def check_export(out_dir: Path, fmt: str, shard_tokens: int, dtype: np.dtype) -> None:
    """Refuse settings and an ``out_dir`` that would fail the export, before anything is tokenized."""
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"format={fmt!r} is unknown: choose from {', '.join(EXPORT_FORMATS)}")
    if not isinstance(shard_tokens, int) or shard_tokens <= 0:
        raise DataError(f"shard_tokens={shard_tokens!r} is invalid: it must be a positive integer")
    if fmt == "nanogpt_bin" and np.dtype(dtype).itemsize != 2:
        raise DataError(
            "format=nanogpt_bin holds uint16 tokens only and this vocabulary needs uint32: use format=llmc"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"out_dir={out_dir} is a file, not a folder: choose a folder for the token files")
    taken = (
        sorted(p.name for split in SPLITS for p in out_dir.glob(f"{split}*.bin")) if out_dir.is_dir() else []
    )
    if taken:
        raise DataError(
            f"{out_dir} already holds {taken[0]}: choose an empty out_dir or delete its .bin files"
        )


def export_tokens(
    tokens: dict[str, np.ndarray | ConcatenatedTokens], out_dir: Path, fmt: str, shard_tokens: int
) -> dict[str, list[Path]]:
    """Write each split as ``{split}_000000.bin``... (llm.c) or ``{split}.bin`` (nanoGPT); returns them.

    The files are built in a temporary folder and moved in once all are complete, so a failure
    (a full disk) or a kill never leaves some of them: training on a partial set would silently
    use part of the corpus, and a rerun would refuse the folder.
    """
    dtype = np.dtype(tokens["train"].dtype)
    check_export(out_dir, fmt, shard_tokens, dtype)
    # Beside a new out_dir, renamed into place whole; inside an existing one, which may be a mount
    # point on another filesystem than its parent's (no rename crosses them), moved in file by file.
    staging = staging_folder(out_dir / out_dir.name if out_dir.is_dir() else out_dir)
    try:
        names = {
            split: write_split(stream, split, ShardWriter(staging, split, dtype, shard_tokens, fmt == "llmc"))
            for split, stream in tokens.items()
        }
        publish_folder(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {split: [out_dir / name for name in split_names] for split, split_names in names.items()}


def write_split(stream: np.ndarray | ConcatenatedTokens, split: str, writer: ShardWriter) -> list[str]:
    """``stream`` through ``writer``, block by block; returns the names of the files written."""
    with tqdm(total=len(stream), unit="tok", unit_scale=True, desc=f"writing {split}") as progress:
        for start in range(0, len(stream), COPY_TOKENS):
            block = stream[start : start + COPY_TOKENS]
            writer.write(block)
            release_mapped_pages(stream)
            progress.update(len(block))
    return [path.name for path in writer.close()]
