"""Data pipeline figures: tokenization speed, cache hits, preparing large corpora, memory at stride 1."""

from __future__ import annotations

import math
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L

from benchmarks.corpora import SHAKESPEARE_TRAIN_TOKENS, repeated_shakespeare
from benchmarks.measure import peak_rss_mb
from gpt_experiments.config import asset_path
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.data.export import export_tokens
from gpt_experiments.data.file_digests import hash_file
from gpt_experiments.data.sources.text_files import TextFiles
from gpt_experiments.data.splits import split_by_chars, tagged_chunks
from gpt_experiments.data.text_stream import BLOCK_BYTES, count_chars
from gpt_experiments.data.token_cache import CHUNK_CHARS, SplitSettings, load_or_tokenize
from gpt_experiments.tokenizer import gpt2_tokenizer
from gpt_experiments.training.lit_module import GPTLitModule

MEMORY_MODEL = dict(vocab_size=50257, context_length=64, emb_dim=48, n_heads=3, n_layers=2, drop_rate=0.0)


def corpus_chunks(source: TextFiles, chunk_chars: int = CHUNK_CHARS) -> list[str]:
    """The corpus's text cut exactly as a cache miss cuts it (90/10 by characters, safe boundaries).

    The benchmark corpus is one file: its chunks hold text only, no document break.
    """
    tagged = split_by_chars(source.stream(), count_chars(source.stream()), SplitSettings().train_ratio)
    return [
        piece for _, chunk in tagged_chunks(tagged, chunk_chars) for piece in chunk if isinstance(piece, str)
    ]


def read_files_once(files: list[Path]) -> None:
    """The floor for a cache hit: every byte of the corpus read once, nothing else."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(BLOCK_BYTES):
                pass


def tiktoken_batch_seconds(chunks: list[str], workers: int) -> tuple[float, int]:
    """tiktoken's own parallel encoding of ``chunks`` (threads; the text already in memory)."""
    encoding = gpt2_tokenizer()
    start = time.perf_counter()
    ids = encoding.encode_ordinary_batch(chunks, num_threads=workers)
    seconds = time.perf_counter() - start
    return seconds, sum(len(chunk_ids) for chunk_ids in ids)


def measure_tokenization(corpus_mb: float, work_dir: str, rounds: int = 2) -> dict[str, Any]:
    """A cache miss and a cache hit on a ``corpus_mb`` corpus, side by side with their floors.

    Each round runs, interleaved: preparing an empty cache (``load_or_tokenize``: read,
    split, tokenize in parallel, write shards), tiktoken's ``encode_ordinary_batch`` of the
    same chunks with as many threads as we have workers, a cache hit and a second one, one
    plain read of the file, and one read that hashes it. The first hit hashes the corpus
    again (it was written moments before its first hashing, too recently to trust its
    stat); the second one, like every hit on a corpus older than a few seconds, reads none
    of it. Ratios use each one's best round (load on a shared machine only slows things down).
    """
    copies = math.ceil(corpus_mb * 2**20 / Path(asset_path("tinyshakespeare.txt")).stat().st_size)
    corpus = repeated_shakespeare(Path(work_dir) / f"shakespeare_x{copies}.txt", copies)
    source = TextFiles(str(corpus))
    workers = os.cpu_count() or 1
    chunks = corpus_chunks(source)
    measured = ("cold", "tiktoken", "hit", "hit_again", "read", "hash")
    times: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(dir=work_dir) as cache:
            start = time.perf_counter()
            tokens = load_or_tokenize(TextFiles(str(corpus)), cache, workers=workers)
            times["cold"].append(time.perf_counter() - start)
            num_tokens = sum(len(t) for t in tokens.values())
            del tokens
            seconds, tiktoken_tokens = tiktoken_batch_seconds(chunks, workers)
            times["tiktoken"].append(seconds)
            for hit in ("hit", "hit_again"):
                start = time.perf_counter()
                load_or_tokenize(TextFiles(str(corpus)), cache, workers=workers)
                times[hit].append(time.perf_counter() - start)
            start = time.perf_counter()
            read_files_once(source.files)
            times["read"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for path in source.files:  # what a hit does when it cannot trust the files' stat
                hash_file(path)
            times["hash"].append(time.perf_counter() - start)
    if tiktoken_tokens != num_tokens:
        raise RuntimeError(f"tiktoken gave {tiktoken_tokens} tokens, the cache {num_tokens}")
    best = {name: min(values) for name, values in times.items()}
    size_mb = corpus.stat().st_size / 2**20
    return {
        "corpus_mb": size_mb,
        "tokens": num_tokens,
        "chunks": len(chunks),
        "workers": workers,
        "rounds": rounds,
        "seconds": times,
        "cold_seconds": best["cold"],
        "mb_per_sec": size_mb / best["cold"],
        "tokens_per_sec": num_tokens / best["cold"],
        "tiktoken_batch_tokens_per_sec": num_tokens / best["tiktoken"],
        "cold_vs_tiktoken_batch": best["tiktoken"] / best["cold"],
        "cache_hit_seconds": best["hit"],
        "read_once_seconds": best["read"],
        "cache_hit_vs_read_once": best["hit"] / best["read"],
        "cache_hit_again_seconds": best["hit_again"],
        "cache_hit_again_vs_read_once": best["hit_again"] / best["read"],
        "hash_once_seconds": best["hash"],
        "cache_hit_vs_hash_once": best["hit"] / best["hash"],
        "peak_rss_mb_main_process": peak_rss_mb(),
    }


def measure_preparation(corpus_mb: float, work_dir: str, shard_tokens: int) -> dict[str, Any]:
    """What ``prepare_data.py`` does to a ``corpus_mb`` text file: tokenize into an empty (sharded)
    cache, then write llm.c shards; time and peak memory of each process involved.

    The main process's peak RSS is read before and after, so its growth is what preparing the
    corpus cost (the imports come before). Worker processes report their largest peak.
    """
    copies = math.ceil(corpus_mb * 2**20 / Path(asset_path("tinyshakespeare.txt")).stat().st_size)
    corpus = repeated_shakespeare(Path(work_dir) / f"shakespeare_x{copies}.txt", copies)
    cache_dir = str(Path(work_dir) / f"prepare-cache-{copies}")
    data = GPTDataModule(path=str(corpus), cache_dir=cache_dir, shard_tokens=shard_tokens)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    tokens = data.windows.load_tokens()
    tokenized = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work_dir) as out:
        written = export_tokens(tokens, Path(out), "llmc", shard_tokens)
        exported = time.perf_counter()
        shard_count = {split: len(paths) for split, paths in written.items()}
    num_tokens = sum(len(t) for t in tokens.values())
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "corpus_mb": corpus.stat().st_size / 2**20,
        "tokens": num_tokens,
        "cache_shards": {split: len(getattr(t, "parts", [t])) for split, t in tokens.items()},
        "exported_shards": shard_count,
        "workers": os.cpu_count(),
        "tokenize_seconds": tokenized - start,
        "tokens_per_sec": num_tokens / (tokenized - start),
        "export_seconds": exported - tokenized,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb_after": peak_rss_mb(),
        "rss_growth_mb": peak_rss_mb() - rss_before,
        "peak_rss_mb_largest_worker": children_kib / 1024,
    }


def measure_window_memory(
    num_tokens: int, stride: int | None, work_dir: str, steps: int = 30, prepare: bool = False
) -> dict[str, Any]:
    """Peak RSS of training a small model for ``steps`` steps over ``num_tokens`` training tokens.

    ``stride=None`` means stride = context (no overlap). With ``prepare``, only fill the
    token cache, so the measured runs do not count tokenization's memory.
    """
    copies = math.ceil(num_tokens / SHAKESPEARE_TRAIN_TOKENS)
    corpus = repeated_shakespeare(Path(work_dir) / f"shakespeare_x{copies}.txt", copies)
    context = MEMORY_MODEL["context_length"]
    data = GPTDataModule(
        path=str(corpus),
        max_length=context,
        stride=stride or context,
        batch_size=8,
        eval_train_batches=0,
        cache_dir=str(Path(work_dir) / "memory-cache"),
    )
    data.setup("fit")
    if prepare:
        return {"train_tokens": data.windows.num_tokens("train")}
    rss_before = peak_rss_mb()
    L.seed_everything(0, verbose=False)
    module = GPTLitModule(model=MEMORY_MODEL, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    trainer = L.Trainer(
        max_steps=steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    return {
        "stride": stride or context,
        "train_tokens": data.windows.num_tokens("train"),
        "windows": len(data.windows.train_set),
        "peak_rss_mb_before_training": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }
