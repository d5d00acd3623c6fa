"""Token files on disk: llm.c's shard format and nanoGPT's raw ``.bin``, read as memory maps.

llm.c shard: a header of 256 little-endian int32 (``[0]`` magic, ``[1]`` version, ``[2]``
token count, the rest zero), then the tokens. GPT-2 shards hold uint16 tokens (magic
20240520, version 1); llm.c's Llama-3 shards hold uint32 tokens (magic 20240801, version 7).
nanoGPT's ``train.bin``/``val.bin``: uint16 tokens with no header at all.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gpt_experiments.errors import DataError

HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
# (magic, version) -> token dtype, as llm.c's dev/data/data_common.py writes them.
SHARD_FORMATS = {(20240520, 1): np.dtype("<u2"), (20240801, 7): np.dtype("<u4")}
UINT16_VOCAB_LIMIT = 65_536  # ids 0..65535 fit in uint16


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits, uint32 beyond (halves the disk and page cache of GPT-2 data)."""
    return np.dtype("<u2") if vocab_size <= UINT16_VOCAB_LIMIT else np.dtype("<u4")


def shard_header(dtype: np.dtype, num_tokens: int) -> bytes:
    magic, version = next(key for key, value in SHARD_FORMATS.items() if value == dtype)
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = magic, version, num_tokens
    return header.tobytes()


def read_shard_header(path: Path) -> tuple[np.dtype, int]:
    """(token dtype, token count) from an llm.c shard's header; a one-line error if it is not one."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(HEADER_BYTES), dtype="<i4")
    if len(header) < HEADER_INTS:
        raise DataError(f"{path} is too short for an llm.c shard header (1024 bytes): use data=nanogpt_bin")
    key = (int(header[0]), int(header[1]))
    if key not in SHARD_FORMATS:
        raise DataError(
            f"{path} has magic {key[0]} version {key[1]}, not an llm.c shard (20240520/1 or 20240801/7): "
            "for headerless uint16 tokens use data=nanogpt_bin"
        )
    dtype, count = SHARD_FORMATS[key], int(header[2])
    expected = HEADER_BYTES + count * dtype.itemsize
    if path.stat().st_size != expected:
        raise DataError(
            f"{path} holds {path.stat().st_size} bytes but its header promises {count} tokens "
            f"({expected} bytes): the file is truncated or not an llm.c shard; write it again"
        )
    return dtype, count


def open_shard(path: Path) -> np.memmap:
    """An llm.c shard's tokens as a read-only memory map (nothing is copied)."""
    dtype, count = read_shard_header(path)
    return np.memmap(path, dtype=dtype, mode="r", offset=HEADER_BYTES, shape=(count,))


def open_raw_bin(path: Path) -> np.memmap:
    """nanoGPT's headerless uint16 tokens as a read-only memory map."""
    size = path.stat().st_size
    if size == 0 or size % 2:
        raise DataError(
            f"{path} holds {size} bytes, not a whole number of uint16 tokens: is it a token file?"
        )
    return np.memmap(path, dtype="<u2", mode="r")


def release_mapped_pages(tokens: np.ndarray) -> None:
    """Unmap the pages of ``tokens``' memory maps read so far (``tokens`` may be a stream of them).

    They are clean file pages the kernel could reclaim anyway, but while mapped they count
    in this process's RSS: reading a whole corpus through its maps would show RSS growing
    by the corpus size. (The pages stay in the page cache; nothing is re-read from disk.)
    """
    for part in getattr(tokens, "parts", [tokens]):
        mapping = getattr(part, "_mmap", None)  # numpy keeps the mmap of a memmap (and its slices) here
        if mapping is not None:
            mapping.madvise(mmap.MADV_DONTNEED)


def max_token_id(tokens: np.ndarray, block: int = 1 << 24) -> int:
    """The largest id in a token file's memory map, read block by block (-1 when empty):
    one pass over the file, with no more of it mapped at a time than one block."""
    largest = -1
    for start in range(0, len(tokens), block):
        largest = max(largest, int(tokens[start : start + block].max()))
        release_mapped_pages(tokens)
    return largest


def check_token_ids(path: Path, tokens: np.ndarray, vocab_size: int, fix: str) -> None:
    """Ids the model's embedding has no row for would fail mid-training: refuse them now."""
    largest = max_token_id(tokens)
    if largest >= vocab_size:
        raise DataError(
            f"{path} holds token id {largest}, but the tokenizer has {vocab_size} ids (0 to "
            f"{vocab_size - 1}): {fix}"
        )


class ShardWriter:
    """Appends tokens to ``{prefix}_000000.bin``, ``{prefix}_000001.bin``... of ``shard_tokens`` each.

    ``header=False`` writes nanoGPT's raw layout instead (one headerless file, ``{prefix}.bin``).
    Each shard is written under a temporary name and renamed once complete.
    """

    def __init__(
        self, folder: Path, prefix: str, dtype: np.dtype, shard_tokens: int, header: bool = True
    ) -> None:
        if shard_tokens <= 0:
            raise DataError(f"shard_tokens={shard_tokens} is invalid: it must be a positive integer")
        self.folder, self.prefix, self.dtype, self.header = folder, prefix, np.dtype(dtype), header
        self.shard_tokens = shard_tokens if header else None
        self.paths: list[Path] = []
        self.total = 0
        self._file: BinaryIO | None = None
        self._tmp: Path | None = None
        self._in_shard = 0

    def write(self, tokens: np.ndarray) -> None:
        tokens = np.asarray(tokens)
        if tokens.size and int(tokens.max()) > np.iinfo(self.dtype).max:
            raise DataError(f"token id {int(tokens.max())} does not fit in {self.dtype.name}")
        tokens = tokens.astype(self.dtype, copy=False)
        while tokens.size:
            if self._file is None:
                self._open()
            room = tokens.size if self.shard_tokens is None else self.shard_tokens - self._in_shard
            head, tokens = tokens[:room], tokens[room:]
            self._file.write(head.tobytes())
            self._in_shard += head.size
            self.total += head.size
            if self._in_shard == self.shard_tokens:
                self._close()

    def close(self) -> list[Path]:
        """Finish the last shard (an empty stream still gets one, empty, shard) and list them all."""
        if self._file is None and not self.paths:
            self._open()
        if self._file is not None:
            self._close()
        return self.paths

    def _open(self) -> None:
        name = f"{self.prefix}_{len(self.paths):06d}.bin" if self.header else f"{self.prefix}.bin"
        self.paths.append(self.folder / name)
        self._tmp = self.folder / f".{name}.tmp{os.getpid()}"
        self._file = open(self._tmp, "wb")  # noqa: SIM115 (open across write() calls)
        if self.header:
            self._file.write(b"\0" * HEADER_BYTES)  # the count is known when the shard is full
        self._in_shard = 0

    def _close(self) -> None:
        if self.header:
            self._file.seek(0)
            self._file.write(shard_header(self.dtype, self._in_shard))
        self._file.close()
        os.replace(self._tmp, self.paths[-1])
        self._file = None
