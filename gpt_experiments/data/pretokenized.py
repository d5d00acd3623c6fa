"""Already-tokenized corpora: llm.c shards and nanoGPT ``.bin`` files, opened as memory maps.

``data.path`` is the folder; ``data.train_files`` / ``data.val_files`` are glob patterns in
it (llm.c: ``*train*.bin`` / ``*val*.bin``; nanoGPT: ``train.bin`` / ``val.bin``). Several
files of a split are read as one stream, in name order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpt_experiments.data.shards import check_token_ids, open_raw_bin, open_shard
from gpt_experiments.data.token_view import ConcatenatedTokens, join_shards
from gpt_experiments.errors import DataError

OPENERS = {"llmc": open_shard, "nanogpt_bin": open_raw_bin}


def split_files(folder: Path, pattern: str, split: str) -> list[Path]:
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise DataError(
            f"no {split} token file matches {folder / pattern}: set data.{split}_files to their pattern"
        )
    return files


def open_checked(source: str, path: Path, vocab_size: int) -> np.ndarray:
    tokens = OPENERS[source](path)
    fix = "the tokens were made by another tokenizer: pass that one as tokenizer= (and model.vocab_size)"
    check_token_ids(path, tokens, vocab_size, fix)
    return tokens


def open_pretokenized(
    source: str, path: str, train_files: str, val_files: str, vocab_size: int
) -> dict[str, np.ndarray | ConcatenatedTokens]:
    """Each split's token files as one stream; every id must be below ``vocab_size`` (the
    tokenizer's), or the model's embedding would fail on it mid-training."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"data.path {folder} is not a folder: point it at the folder holding the token files")
    patterns = {"train": train_files, "val": val_files}
    return {
        split: join_shards([open_checked(source, p, vocab_size) for p in split_files(folder, pattern, split)])
        for split, pattern in patterns.items()
    }
