"""Writing a corpus's token streams out as llm.c shards or nanoGPT ``.bin`` files.

Streams are copied block by block from their memory maps, so exporting a corpus larger
than memory needs no more memory than one block.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gpt_experiments.data.shards import ShardWriter
from gpt_experiments.data.token_view import ConcatenatedTokens
from gpt_experiments.errors import DataError

EXPORT_FORMATS = ("llmc", "nanogpt_bin")
COPY_TOKENS = 1 << 22  # tokens per block copied (8 MiB of uint16)


def release_mapped_pages(tokens: np.ndarray | ConcatenatedTokens) -> None:
    """Unmap the pages of ``tokens``' memory maps read so far.

    They are clean file pages the kernel could reclaim anyway, but while mapped they count
    in this process's RSS: reading a whole corpus through its maps would show RSS growing
    by the corpus size. (The pages stay in the page cache; nothing is re-read from disk.)
    """
    for part in getattr(tokens, "parts", [tokens]):
        mapping = getattr(part, "_mmap", None)  # numpy keeps the mmap of a memmap (and its slices) here
        if mapping is not None:
            mapping.madvise(mmap.MADV_DONTNEED)


def export_tokens(
    tokens: dict[str, np.ndarray | ConcatenatedTokens], out_dir: Path, fmt: str, shard_tokens: int
) -> dict[str, list[Path]]:
    """Write each split as ``{split}_000000.bin``... (llm.c) or ``{split}.bin`` (nanoGPT); returns them."""
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"format={fmt!r} is unknown: choose from {', '.join(EXPORT_FORMATS)}")
    dtype = np.dtype(tokens["train"].dtype)
    if fmt == "nanogpt_bin" and dtype.itemsize != 2:
        raise DataError(
            "format=nanogpt_bin holds uint16 tokens only and this vocabulary needs uint32: use format=llmc"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    taken = sorted(p.name for split in tokens for p in out_dir.glob(f"{split}*.bin"))
    if taken:
        raise DataError(
            f"{out_dir} already holds {taken[0]}: choose an empty out_dir or delete its .bin files"
        )
    written = {}
    for split, stream in tokens.items():
        writer = ShardWriter(out_dir, split, dtype, shard_tokens, header=fmt == "llmc")
        with tqdm(total=len(stream), unit="tok", unit_scale=True, desc=f"writing {split}") as progress:
            for start in range(0, len(stream), COPY_TOKENS):
                block = stream[start : start + COPY_TOKENS]
                writer.write(block)
                release_mapped_pages(stream)
                progress.update(len(block))
        written[split] = writer.close()
    return written
