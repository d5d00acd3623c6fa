"""The tokenize section compares like with like: the same chunks, the same tokens, every round timed."""

from __future__ import annotations

from pathlib import Path

from benchmarks.data_speed import corpus_chunks, measure_tokenization
from gpt_experiments.config import asset_path
from gpt_experiments.data.sources.text_files import TextFiles


def test_the_chunks_given_to_tiktoken_are_the_whole_corpus_in_order():
    source = TextFiles(asset_path("the-verdict.txt"))
    chunks = corpus_chunks(source, chunk_chars=2_000)
    assert len(chunks) > 5
    assert "".join(chunks) == Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")


def test_tokenize_section_times_both_sides_on_the_same_tokens(tmp_path):
    report = measure_tokenization(corpus_mb=0.5, work_dir=str(tmp_path), rounds=2)  # one copy
    # measure_tokenization raises if tiktoken's count differs from the cache's; both are
    # tiny Shakespeare's train + validation tokens.
    assert report["tokens"] == 301_966 + 36_059
    assert all(len(times) == 2 and min(times) > 0 for times in report["seconds"].values())
    assert report["cold_vs_tiktoken_batch"] == min(report["seconds"]["tiktoken"]) / report["cold_seconds"]
    assert report["cache_hit_vs_read_once"] == report["cache_hit_seconds"] / report["read_once_seconds"]
