"""Text files -> train/validation token arrays, tokenized once and cached on disk as uint16.

The split: the corpus (files joined with ``<|endoftext|>``) is cut at ``train_ratio`` of
its characters, as the seed cuts its one text; the first part is training text. For a
large corpus this puts the last files in validation, so list them in an order where
that is fair (shuffle documents beforehand if the files are sorted by topic or date).

The cache key covers the files' bytes, the tokenizer, the split ratio and the decoding
mode, so editing a file or changing a setting never reuses stale tokens. A hit costs
one read of the files to hash them. A miss streams the text in chunks cut at safe
boundaries (see :mod:`gpt_experiments.data.text_stream`), tokenizes them in parallel worker
processes and appends the tokens to disk in order, so memory stays flat. Arrays are
opened as memory maps: training reads windows without loading the corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from gpt_experiments.data.text_stream import corpus_digest, corpus_text, count_chars, safe_chunks, split_at
from gpt_experiments.tokenizer import END_OF_TEXT, GPT2_RANKS_SHA256, gpt2_tokenizer

SPLITS = ("train", "val")
CACHE_FORMAT = 2  # bump when the way tokens are produced changes
CHUNK_CHARS = 1 << 20  # characters per tokenization task
# Below this many chunks, starting worker processes costs more than it saves.
MIN_CHUNKS_FOR_WORKERS = 4


def tokenize(text: str) -> np.ndarray:
    """GPT-2 token ids as uint16 (50257 ids fit); ``<|endoftext|>`` separates documents."""
    ids = gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT})
    return np.asarray(ids, dtype=np.uint16)


def cache_key(content_digest: str, train_ratio: float, encoding_errors: str) -> str:
    settings = f"|gpt2:{GPT2_RANKS_SHA256}|ratio:{train_ratio!r}|errors:{encoding_errors}|v{CACHE_FORMAT}"
    return hashlib.sha256((content_digest + settings).encode()).hexdigest()[:24]


def ordered_map(
    fn: Callable[[str], np.ndarray], items: Iterable[str], executor: Executor | None, max_pending: int
) -> Iterator[tuple[str, np.ndarray]]:
    """``(item, fn(item))`` in input order, with at most ``max_pending`` items in flight.

    Unlike ``Pool.imap``, which reads its whole input ahead, this keeps memory bounded.
    """
    if executor is None:
        for item in items:
            yield item, fn(item)
        return
    pending: deque[tuple[str, Future]] = deque()
    for item in items:
        pending.append((item, executor.submit(fn, item)))
        if len(pending) >= max_pending:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def write_tokens(
    chunks: Iterable[str], out: BinaryIO, executor: Executor | None, max_pending: int, progress: tqdm
) -> int:
    """Tokenize ``chunks`` and append the uint16 ids to ``out``; returns the token count."""
    count = 0
    for chunk, ids in ordered_map(tokenize, chunks, executor, max_pending):
        out.write(ids.tobytes())
        count += len(ids)
        progress.update(len(chunk))
    return count


def tokenize_splits(
    files: list[Path],
    train_ratio: float,
    sinks: dict[str, BinaryIO],
    encoding_errors: str = "strict",
    workers: int | None = None,
    chunk_chars: int = CHUNK_CHARS,
) -> dict[str, int]:
    """Stream the corpus into ``sinks["train"]`` and ``sinks["val"]``; returns token counts."""
    total_chars = count_chars(corpus_text(files, encoding_errors))
    split_position = int(train_ratio * total_chars)
    workers = workers or os.cpu_count() or 1
    use_workers = workers > 1 and total_chars >= MIN_CHUNKS_FOR_WORKERS * chunk_chars
    # "spawn": forking a process that already runs torch's threads can deadlock.
    executor = (
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if use_workers else None
    )
    counts = {}
    try:
        for index, name in enumerate(SPLITS):
            pieces = (
                p
                for part, p in split_at(corpus_text(files, encoding_errors), split_position)
                if part == index
            )
            split_chars = split_position if index == 0 else total_chars - split_position
            with tqdm(total=split_chars, unit="char", unit_scale=True, desc=f"tokenizing {name}") as progress:
                chunks = safe_chunks(pieces, chunk_chars)
                counts[name] = write_tokens(chunks, sinks[name], executor, 2 * workers, progress)
    finally:
        if executor is not None:
            executor.shutdown()
    return counts


def save_npy(raw_path: Path, count: int, path: Path) -> None:
    """Wrap the raw uint16 tokens in ``raw_path`` as ``path`` (.npy), atomically."""
    tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
    try:
        with open(tmp, "wb") as out, open(raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(
                out,
                {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint16)),
                    "fortran_order": False,
                    "shape": (count,),
                },
            )
            shutil.copyfileobj(raw, out, 1 << 24)
        # Rename last, so a crash never leaves a half-written file under the final name.
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # cleaning up must not hide why the write failed
            tmp.unlink(missing_ok=True)  # gone already after the rename; left over after a failure


def load_or_tokenize(
    files: list[Path],
    train_ratio: float,
    cache_dir: str | Path | None,
    encoding_errors: str = "strict",
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Token arrays per split, read from ``cache_dir`` when present (``None``: in memory, no cache)."""
    digest = corpus_digest(files)  # also rejects empty files
    if cache_dir is None:
        sinks = {name: io.BytesIO() for name in SPLITS}
        tokenize_splits(files, train_ratio, sinks, encoding_errors, workers)
        return {name: np.frombuffer(sink.getvalue(), dtype=np.uint16) for name, sink in sinks.items()}
    folder = Path(cache_dir) / cache_key(digest, train_ratio, encoding_errors)
    paths = {name: folder / f"{name}.npy" for name in SPLITS}
    if not all(p.is_file() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        raw_paths = {name: folder / f"{name}.tmp{os.getpid()}.bin" for name in SPLITS}
        try:
            with open(raw_paths["train"], "wb") as train, open(raw_paths["val"], "wb") as val:
                counts = tokenize_splits(
                    files, train_ratio, {"train": train, "val": val}, encoding_errors, workers
                )
            for name in SPLITS:
                save_npy(raw_paths[name], counts[name], paths[name])
        except BaseException as err:
            # A failed tokenization (bad data, full disk) leaves no empty entry behind;
            # one that another process is filling is not empty and stays.
            with contextlib.suppress(OSError):
                for raw in raw_paths.values():
                    raw.unlink(missing_ok=True)
                folder.rmdir()
            if isinstance(err, OSError) and err.filename is None:  # a failed write names no file
                raise OSError(err.errno, err.strerror, str(folder)) from None
            raise
        finally:
            for raw in raw_paths.values():
                raw.unlink(missing_ok=True)
    return {name: np.load(path, mmap_mode="r") for name, path in paths.items()}
