"""Streaming, chunked, parallel tokenization gives exactly the tokens of one call on the whole text."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_experiments.config import asset_path
from gpt_experiments.data.shards import open_shard
from gpt_experiments.data.sources.text_files import TextFiles
from gpt_experiments.data.text_stream import corpus_chunks, corpus_text, read_blocks, safe_chunks, split_at
from gpt_experiments.data.token_cache import (
    GPT2_ENCODER,
    TokenEncoder,
    load_or_tokenize,
    make_executor,
    tokenize_source,
)
from gpt_experiments.errors import DataError
from gpt_experiments.tokenizer import DOCUMENT_BREAK, CorpusPiece, gpt2, gpt2_tokenizer


# GPT-2's tokenizer runs in threads; the same tokenizer marked as holding Python's lock
# takes the path of every other tokenizer: worker processes.
@pytest.mark.parametrize("encoder", [GPT2_ENCODER, replace(GPT2_ENCODER, releases_gil=False)])
def test_parallel_chunked_tiny_shakespeare_matches_one_call(tmp_path, encoder):
    path = Path(asset_path("tinyshakespeare.txt"))
    # Small chunks and two workers: hundreds of cut points, all safe.
    shards = tokenize_source(TextFiles(str(path)), tmp_path, encoder=encoder, workers=2, chunk_chars=20_000)
    tokens = {name: open_shard(paths[0]) for name, paths in shards.items()}
    assert {name: len(t) for name, t in tokens.items()} == {"train": 301_966, "val": 36_059}
    text = path.read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    for name, part in (("train", text[:cut]), ("val", text[cut:])):
        assert tokens[name].tolist() == gpt2_tokenizer().encode_ordinary(part)


def test_worker_processes_receive_document_breaks_whole(tmp_path):
    """Tasks of text and breaks pickled to worker processes tokenize as in this process."""
    text = Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")
    (tmp_path / "docs").mkdir()
    for index in range(4):
        (tmp_path / "docs" / f"{index}.txt").write_text(text[index * 5_000 : (index + 1) * 5_000])
    tokens = []
    for name, encoder, workers in [
        ("one", GPT2_ENCODER, 1),
        ("spawned", replace(GPT2_ENCODER, releases_gil=False), 2),
    ]:
        (tmp_path / name).mkdir()
        shards = tokenize_source(
            TextFiles(str(tmp_path / "docs")),
            tmp_path / name,
            encoder=encoder,
            workers=workers,
            chunk_chars=1_000,
        )
        tokens.append({split: open_shard(paths[0]).tolist() for split, paths in shards.items()})
    assert tokens[0] == tokens[1]
    # The cut (character 18,000) falls inside the last document: train holds the three breaks.
    assert (tokens[1]["train"].count(50256), tokens[1]["val"].count(50256)) == (3, 0)


@pytest.mark.parametrize(
    ("encoder", "pool"),
    [(GPT2_ENCODER, ThreadPoolExecutor), (replace(GPT2_ENCODER, releases_gil=False), ProcessPoolExecutor)],
)
def test_only_tokenizers_that_release_the_lock_run_in_threads(encoder, pool):
    executor = make_executor(encoder, 2)
    executor.shutdown()
    assert type(executor) is pool


def tokenize(text: str) -> list[int]:
    return gpt2().encode_ordinary(text)


# Letters, digits, punctuation and every kind of whitespace run the pre-tokenizer treats specially.
TEXT = st.lists(
    st.sampled_from(
        ["a", "bc", "Z", "9", "'s", "'", ",", " ", "  ", "\n", "\n\n", "\t", "\r\n", "é", "<|endoftext|>"]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, min_chars=st.integers(1, 12))
def test_safe_chunks_tokenize_like_the_whole_text(text, min_chars):
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    chunks = list(safe_chunks(pieces, min_chars))
    assert "".join(chunks) == text
    assert [token for chunk in chunks for token in tokenize(chunk)] == tokenize(text)


@settings(max_examples=200, deadline=None)
@given(documents=st.lists(TEXT.filter(bool), min_size=1, max_size=6), min_chars=st.integers(1, 30))
def test_corpus_chunks_tokenize_like_the_documents_one_by_one(documents, min_chars):
    """Documents (read in blocks) are chunked with a break between two; encoded chunk by chunk,
    each document is its ordinary ids and each break one separator id."""
    stream: list[CorpusPiece] = []
    for document in documents:
        blocks = [document[i : i + 5] for i in range(0, len(document), 5)]
        stream += [DOCUMENT_BREAK, *blocks] if stream else blocks
    chunks = list(corpus_chunks(stream, min_chars))
    expected = [token for document in documents for token in [50256, *tokenize(document)]][1:]
    assert [token for chunk in chunks for token in gpt2().encode_documents(chunk)] == expected


def test_split_at_cuts_the_text_by_characters_and_never_a_separator():
    stream = ["abc", DOCUMENT_BREAK, "def", DOCUMENT_BREAK, "gh"]
    assert list(split_at(stream, 4)) == [
        (0, "abc"),
        (0, DOCUMENT_BREAK),
        (0, "d"),
        (1, "ef"),
        (1, DOCUMENT_BREAK),
        (1, "gh"),
    ]
    # A cut between two documents puts them in different splits and the break in neither.
    assert list(split_at(stream, 3)) == [(0, "abc"), (1, "def"), (1, DOCUMENT_BREAK), (1, "gh")]


def test_files_are_read_in_blocks_with_a_break_between_files(tmp_path, monkeypatch):
    monkeypatch.setattr("gpt_experiments.data.text_stream.BLOCK_BYTES", 3)
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("naïve café")  # multi-byte characters straddle the 3-byte blocks
    second.write_text("second")
    assert "".join(read_blocks(first)) == "naïve café"
    pieces = list(corpus_text([first, second]))
    assert "".join(pieces[:-3]) == "naïve café" and pieces[-3:] == [DOCUMENT_BREAK, "sec", "ond"]


def test_in_memory_and_cached_tokens_agree(tmp_path):
    path = Path(asset_path("the-verdict.txt"))
    in_memory = load_or_tokenize(TextFiles(str(path)), None)
    cached = load_or_tokenize(TextFiles(str(path)), tmp_path)
    for name in ("train", "val"):
        assert isinstance(cached[name], np.memmap)
        assert np.array_equal(in_memory[name], cached[name])


def shifted_codepoints(pieces: list[CorpusPiece]) -> list[int]:
    """A stand-in tokenizer with ids past uint16: one id per character (the text has no break)."""
    return [ord(c) + 65_600 for piece in pieces for c in piece]


def test_large_vocabularies_are_cached_as_uint32_under_their_own_key(tmp_path):
    source = TextFiles(asset_path("the-verdict.txt"))
    wide = TokenEncoder("codepoints+65600", 70_000, shifted_codepoints)
    tokens = load_or_tokenize(source, tmp_path, encoder=wide)
    assert tokens["train"].dtype == np.uint32
    text = Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    assert tokens["train"].tolist() == shifted_codepoints([text[:cut]])
    assert tokens["val"].tolist() == shifted_codepoints([text[cut:]])
    (wide_folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert np.fromfile(wide_folder / "train_000000.bin", dtype="<i4", count=2).tolist() == [20240801, 7]
    load_or_tokenize(source, tmp_path)  # GPT-2: another tokenizer identity, another cache entry
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_entries_of_the_previous_cache_format_are_rebuilt(tmp_path, monkeypatch):
    """Format 3 read a document's "<|endoftext|>" as the separator: its entries must not be served."""
    source = TextFiles(asset_path("the-verdict.txt"))
    monkeypatch.setattr("gpt_experiments.data.token_cache.CACHE_FORMAT", 3)
    load_or_tokenize(source, tmp_path)
    (old_entry,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for shard in old_entry.glob("*.bin"):  # stand-ins for tokens made the old way
        data = bytearray(shard.read_bytes())
        data[1024:] = bytes(len(data) - 1024)
        shard.write_bytes(bytes(data))
    monkeypatch.undo()
    tokens = load_or_tokenize(source, tmp_path)
    text = Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")
    assert tokens["train"].tolist() == tokenize(text[: int(0.9 * len(text))])
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_a_byte_order_mark_is_not_text(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfHello")
    assert "".join(read_blocks(tmp_path / "bom.txt")) == "Hello"  # as Python's utf-8-sig reads it


def test_a_failed_tokenization_leaves_no_cache_entry(tmp_path):
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait " * 10)
    with pytest.raises(DataError, match="is not UTF-8"):
        load_or_tokenize(TextFiles(str(tmp_path / "latin1.txt")), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # not even the cache folder this call made
