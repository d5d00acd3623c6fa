"""A text source -> train/validation token shards, tokenized once and cached on disk.

The cache key covers the source's content (its ``fingerprint``), the tokenizer's identity,
the split settings and this module's format version, so editing a file or changing a
setting never reuses stale tokens. A hit reads no corpus file when the files' stat is the
one recorded when they were hashed (``file_digests``); otherwise it costs one read to hash them.

A miss streams the text once more to count its characters (for the split and the progress
bar), then once to tokenize: documents' text as ordinary text, each break between documents
as the tokenizer's separator id. Chunks cut at safe boundaries are tokenized in parallel, in
order, by threads when the tokenizer releases Python's lock while it works (tiktoken's
Rust core does) and by worker processes otherwise, and appended to llm.c-format shards of ``shard_tokens``
tokens. Memory stays flat however large the corpus. The shards are written in a
temporary folder renamed into place when complete, and opened as memory maps: training
reads windows without loading the corpus.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from gpt_experiments.data.file_digests import DIGESTS_FILE, FileDigests
from gpt_experiments.data.shards import ShardWriter, check_token_ids, open_shard, token_dtype
from gpt_experiments.data.sources.base import TextSource
from gpt_experiments.data.splits import SPLITS, split_by_chars, split_by_documents, tagged_chunks
from gpt_experiments.data.text_stream import count_chars
from gpt_experiments.data.token_view import ConcatenatedTokens, join_shards
from gpt_experiments.errors import DataError, warn
from gpt_experiments.files import staging_folder
from gpt_experiments.tokenizer import GPT2_RANKS_SHA256, CorpusPiece, Tokenizer, gpt2
from gpt_experiments.tokenizer.tiktoken_bpe import TiktokenTokenizer

# Bump when the way tokens are produced or stored changes, so older entries are rebuilt.
# 4: documents are ordinary text and separators ids (format 3 read a document's
# "<|endoftext|>" as the separator, and a character split could cut a separator's text).
CACHE_FORMAT = 4
CHUNK_CHARS = 1 << 20  # characters per tokenization task
# Below this many chunks, starting worker processes costs more than it saves.
MIN_CHUNKS_FOR_WORKERS = 4
SHARD_TOKENS = 100_000_000  # llm.c's shard size
MANIFEST = "tokens.json"
# Why a write fails for want of room or permission (an error the user fixes, not a bug).
WRITE_REFUSALS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}

Tag = TypeVar("Tag")
Task = TypeVar("Task")


@dataclass(frozen=True)
class TokenEncoder:
    """What the cache needs of a tokenizer: an identity for the key, the id range, and corpus pieces -> ids.

    ``releases_gil``: ``encode`` lets other Python threads run while it works, so threads
    tokenize in parallel, with no process to start and no text or tokens to copy between
    processes. Otherwise worker processes call it, and it must be picklable (a module-level
    function or a ``functools.partial`` of one).
    """

    identity: str
    vocab_size: int
    encode: Callable[[list[CorpusPiece]], list[int]]
    releases_gil: bool = False

    def to_array(self, pieces: list[CorpusPiece]) -> np.ndarray:
        return np.asarray(self.encode(pieces), dtype=token_dtype(self.vocab_size))


def gpt2_documents(pieces: list[CorpusPiece]) -> list[int]:
    """GPT-2's ids of corpus pieces; a module-level function, so the encoding loads on first use."""
    return gpt2().encode_documents(pieces)


GPT2_ENCODER = TokenEncoder(f"gpt2:{GPT2_RANKS_SHA256}", 50257, gpt2_documents, releases_gil=True)


def token_encoder(tokenizer: Tokenizer) -> TokenEncoder:
    """The cache's view of ``tokenizer`` (a Tokenizer pickles as its saved form, so workers rebuild it)."""
    if tokenizer.kind == "gpt2":
        return GPT2_ENCODER
    return TokenEncoder(
        f"{tokenizer.kind}:{tokenizer.identity}",
        tokenizer.vocab_size,
        tokenizer.encode_documents,
        releases_gil=isinstance(tokenizer, TiktokenTokenizer),  # tiktoken's Rust core releases it
    )


@dataclass(frozen=True)
class SplitSettings:
    mode: str = "chars"  # "chars" or "documents" (see gpt_experiments.data.splits)
    train_ratio: float = 0.9
    seed: int = 0  # documents mode only

    def key(self) -> str:
        seed = f"|seed:{self.seed}" if self.mode == "documents" else ""
        return f"{self.mode}:{self.train_ratio!r}{seed}"


def cache_key(fingerprint: str, split: SplitSettings, encoder: TokenEncoder) -> str:
    settings = f"{fingerprint}|{encoder.identity}|{split.key()}|v{CACHE_FORMAT}"
    return hashlib.sha256(settings.encode()).hexdigest()[:24]


def ordered_map(
    fn: Callable[[Task], np.ndarray],
    items: Iterable[tuple[Tag, Task]],
    executor: Executor | None,
    max_pending: int,
) -> Iterator[tuple[Tag, Task, np.ndarray]]:
    """``(tag, task, fn(task))`` in input order, with at most ``max_pending`` tasks in flight.

    Unlike ``Pool.imap``, which reads its whole input ahead, this keeps memory bounded.
    """
    if executor is None:
        for tag, task in items:
            yield tag, task, fn(task)
        return
    pending: deque[tuple[Tag, Task, Future]] = deque()
    for tag, task in items:
        pending.append((tag, task, executor.submit(fn, task)))
        if len(pending) >= max_pending:
            done_tag, done_task, future = pending.popleft()
            yield done_tag, done_task, future.result()
    while pending:
        done_tag, done_task, future = pending.popleft()
        yield done_tag, done_task, future.result()


def make_executor(encoder: TokenEncoder, workers: int) -> Executor:
    if encoder.releases_gil:
        return ThreadPoolExecutor(workers)
    # "spawn": forking a process that already runs torch's threads can deadlock. (A spawned
    # worker imports the main module again: seconds when that module imports torch.)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def tokenize_source(
    source: TextSource,
    folder: Path,
    split: SplitSettings = SplitSettings(),
    encoder: TokenEncoder = GPT2_ENCODER,
    workers: int | None = None,
    shard_tokens: int = SHARD_TOKENS,
    chunk_chars: int = CHUNK_CHARS,
) -> dict[str, list[Path]]:
    """Tokenize ``source`` into ``folder``'s ``train_*.bin`` and ``val_*.bin`` shards; returns them."""
    total_chars = count_chars(source.stream())
    if split.mode == "chars":
        tagged = split_by_chars(source.stream(), total_chars, split.train_ratio)
    else:
        tagged = split_by_documents(source.documents(), split.train_ratio, split.seed)
    workers = workers or os.cpu_count() or 1
    use_workers = workers > 1 and total_chars >= MIN_CHUNKS_FOR_WORKERS * chunk_chars
    executor = make_executor(encoder, workers) if use_workers else None
    dtype = token_dtype(encoder.vocab_size)
    writers = [ShardWriter(folder, name, dtype, shard_tokens) for name in SPLITS]
    try:
        with tqdm(total=total_chars, unit="char", unit_scale=True, desc="tokenizing") as progress:
            chunks = tagged_chunks(tagged, chunk_chars)
            for index, chunk, ids in ordered_map(encoder.to_array, chunks, executor, 2 * workers):
                writers[index].write(ids)
                progress.update(count_chars(chunk))
    finally:
        if executor is not None:
            executor.shutdown()
    shards = {name: writer.close() for name, writer in zip(SPLITS, writers, strict=True)}
    check_some_text(shards, split, total_chars)
    return shards


class DamagedEntry(DataError):
    """A cache entry that cannot be read as it was written: tokenized again where the cache is writable."""


def open_split_shards(folder: Path, vocab_size: int) -> dict[str, np.ndarray | ConcatenatedTokens]:
    """The entry's token streams; a damaged entry (manifest, shard or id) raises ``DamagedEntry``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        splits = {}
        for name in SPLITS:
            shards = [open_shard(folder / file) for file in manifest[name]]
            for file, tokens in zip(manifest[name], shards, strict=True):
                check_token_ids(folder / file, tokens, vocab_size, "the cache entry is damaged")
            splits[name] = join_shards(shards)
        return splits
    except (ValueError, KeyError, TypeError, FileNotFoundError) as err:  # DataError is a ValueError
        if isinstance(err, DataError | FileNotFoundError):
            reason = str(err) if isinstance(err, DataError) else f"{err.filename} is missing"
        else:
            reason = f"{MANIFEST}: {type(err).__name__}: {err}"
        raise DamagedEntry(f"the token cache entry {folder} is damaged ({reason})") from None


def check_some_text(shards: dict[str, list[Path]], split: SplitSettings, total_chars: int) -> None:
    """Each split needs tokens: an empty one is refused before it becomes a cache entry."""
    if total_chars == 0:
        raise DataError(
            "the data holds no text (every document is empty): check data.path and data.text_field"
        )
    for name, paths in shards.items():
        if not any(open_shard(path).size for path in paths):
            cause = (
                "data.split=documents put every document in the other split: give more documents, or use "
                "data.split=chars"
                if split.mode == "documents"
                else f"{total_chars} characters leave it none: use more text or another data.train_ratio"
            )
            raise DataError(f"the {name} split gets no tokens: {cause}")


def start_entry(cache_dir: Path, folder: Path, damage: DamagedEntry | None) -> Path:
    """A new temporary folder in ``cache_dir`` to tokenize into (renamed to ``folder`` when done);
    those of killed tokenizations of this entry (a corpus's tokens each) are removed."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        return staging_folder(folder)
    except OSError as err:
        if err.errno not in WRITE_REFUSALS:
            raise
        elsewhere = "set data.cache_dir to a writable folder"
        if damage:
            fix = f"{damage}: delete it (rm -r {folder}) where the cache is writable, or {elsewhere}"
        else:
            fix = f"the token cache has no entry for this data yet and tokenizing must write one: {elsewhere}"
        raise OSError(err.errno, f"{err.strerror}: {fix}", str(cache_dir)) from None


def put_entry(building: Path, folder: Path) -> None:
    """Rename the finished entry into place (over a damaged one), so a crash never leaves a
    half-written entry under the final name."""
    if folder.exists():
        damaged = Path(tempfile.mkdtemp(prefix=f"{folder.name}.damaged", dir=folder.parent))
        os.replace(folder, damaged)  # a folder replaces only an empty one: move it aside first
        shutil.rmtree(damaged, ignore_errors=True)
    try:
        os.replace(building, folder)
    except OSError:
        if not (folder / MANIFEST).is_file():  # not just another process finishing first
            raise


def load_or_tokenize(
    source: TextSource,
    cache_dir: str | Path | None,
    split: SplitSettings = SplitSettings(),
    encoder: TokenEncoder = GPT2_ENCODER,
    workers: int | None = None,
    shard_tokens: int = SHARD_TOKENS,
) -> dict[str, np.ndarray | ConcatenatedTokens]:
    """Token streams per split, read from ``cache_dir`` when present (``None``: in memory, no cache).

    A hit only reads: a read-only cache serves it. A damaged entry is tokenized again.
    """
    digests = FileDigests(Path(cache_dir) / DIGESTS_FILE if cache_dir is not None else None)
    fingerprint = source.fingerprint(digests)  # text files also reject empty files here
    if cache_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            shards = tokenize_source(source, Path(tmp), split, encoder, workers, shard_tokens)
            return {
                name: np.concatenate([open_shard(p) for p in paths])  # copies: tmp is deleted
                for name, paths in shards.items()
            }
    cache_dir = Path(cache_dir)
    folder = cache_dir / cache_key(fingerprint, split, encoder)
    damage = None
    if (folder / MANIFEST).is_file():
        try:
            tokens = open_split_shards(folder, encoder.vocab_size)
            digests.save()
            return tokens
        except DamagedEntry as err:
            damage = err
            warn(f"{err}: tokenizing again")
    made_cache_dir = not cache_dir.exists()
    building = start_entry(cache_dir, folder, damage)
    try:
        shards = tokenize_source(source, building, split, encoder, workers, shard_tokens)
        manifest = {name: [p.name for p in paths] for name, paths in shards.items()}
        (building / MANIFEST).write_text(json.dumps(manifest))
        put_entry(building, folder)
    except OSError as err:
        if err.filename is None and err.errno in WRITE_REFUSALS:  # a failed write names no file
            raise OSError(err.errno, err.strerror, str(folder)) from None
        raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
        if made_cache_dir and not any(cache_dir.iterdir()):  # a failure leaves no empty cache behind
            cache_dir.rmdir()
    digests.save()  # after the miss made the cache folder: the next hit reads no corpus file
    return open_split_shards(folder, encoder.vocab_size)
