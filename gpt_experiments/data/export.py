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

    A failure (a full disk) removes what this call wrote, and ``out_dir`` if it made it.
    """
    dtype = np.dtype(tokens["train"].dtype)
    check_export(out_dir, fmt, shard_tokens, dtype)
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    writer = None
    try:
        for split, stream in tokens.items():
            writer = ShardWriter(out_dir, split, dtype, shard_tokens, header=fmt == "llmc")
            written[split] = writer.paths  # grows as shards are finished
            with tqdm(total=len(stream), unit="tok", unit_scale=True, desc=f"writing {split}") as progress:
                for start in range(0, len(stream), COPY_TOKENS):
                    block = stream[start : start + COPY_TOKENS]
                    writer.write(block)
                    release_mapped_pages(stream)
                    progress.update(len(block))
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        for path in (path for paths in written.values() for path in paths):
            path.unlink(missing_ok=True)
        if made:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return written
