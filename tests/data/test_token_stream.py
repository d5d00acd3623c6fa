"""Streaming, chunked, parallel tokenization gives exactly the tokens of one call on the whole text."""

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
from gpt_experiments.data.text_stream import corpus_text, read_blocks, safe_chunks, split_at
from gpt_experiments.data.token_cache import (
    GPT2_ENCODER,
    TokenEncoder,
    load_or_tokenize,
    make_executor,
    tokenize_source,
)
from gpt_experiments.errors import DataError
from gpt_experiments.tokenizer import END_OF_TEXT, gpt2_tokenizer


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


@pytest.mark.parametrize(
    ("encoder", "pool"),
    [(GPT2_ENCODER, ThreadPoolExecutor), (replace(GPT2_ENCODER, releases_gil=False), ProcessPoolExecutor)],
)
def test_only_tokenizers_that_release_the_lock_run_in_threads(encoder, pool):
    executor = make_executor(encoder, 2)
    executor.shutdown()
    assert type(executor) is pool


tokenize = GPT2_ENCODER.to_array

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
    assert np.concatenate([tokenize(c) for c in chunks] or [tokenize("")]).tolist() == tokenize(text).tolist()


def test_split_at_cuts_the_stream_by_characters():
    tagged = list(split_at(["abc", "def", "gh"], 4))
    assert tagged == [(0, "abc"), (0, "d"), (1, "ef"), (1, "gh")]


def test_files_are_read_in_blocks_and_joined_with_end_of_text(tmp_path, monkeypatch):
    monkeypatch.setattr("gpt_experiments.data.text_stream.BLOCK_BYTES", 3)
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("naïve café")  # multi-byte characters straddle the 3-byte blocks
    second.write_text("second")
    assert "".join(read_blocks(first)) == "naïve café"
    assert "".join(corpus_text([first, second])) == f"naïve café{END_OF_TEXT}second"


def test_in_memory_and_cached_tokens_agree(tmp_path):
    path = Path(asset_path("the-verdict.txt"))
    in_memory = load_or_tokenize(TextFiles(str(path)), None)
    cached = load_or_tokenize(TextFiles(str(path)), tmp_path)
    for name in ("train", "val"):
        assert isinstance(cached[name], np.memmap)
        assert np.array_equal(in_memory[name], cached[name])


def shifted_codepoints(text: str) -> list[int]:
    """A stand-in tokenizer with ids past uint16: one id per character."""
    return [ord(c) + 65_600 for c in text]


def test_large_vocabularies_are_cached_as_uint32_under_their_own_key(tmp_path):
    source = TextFiles(asset_path("the-verdict.txt"))
    wide = TokenEncoder("codepoints+65600", 70_000, shifted_codepoints)
    tokens = load_or_tokenize(source, tmp_path, encoder=wide)
    assert tokens["train"].dtype == np.uint32
    text = Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    assert tokens["train"].tolist() == shifted_codepoints(text[:cut])
    assert tokens["val"].tolist() == shifted_codepoints(text[cut:])
    (wide_folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert np.fromfile(wide_folder / "train_000000.bin", dtype="<i4", count=2).tolist() == [20240801, 7]
    load_or_tokenize(source, tmp_path)  # GPT-2: another tokenizer identity, another cache entry
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_a_byte_order_mark_is_not_text(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfHello")
    assert "".join(read_blocks(tmp_path / "bom.txt")) == "Hello"  # as Python's utf-8-sig reads it


def test_a_failed_tokenization_leaves_no_cache_entry(tmp_path):
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait " * 10)
    with pytest.raises(DataError, match="is not UTF-8"):
        load_or_tokenize(TextFiles(str(tmp_path / "latin1.txt")), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
