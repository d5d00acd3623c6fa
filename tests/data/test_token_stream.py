"""Streaming, chunked, parallel tokenization gives exactly the tokens of one call on the whole text."""

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_experiments.config import asset_path
from gpt_experiments.data.text_stream import corpus_text, read_blocks, safe_chunks, split_at
from gpt_experiments.data.token_cache import load_or_tokenize, tokenize, tokenize_splits
from gpt_experiments.errors import DataError
from gpt_experiments.tokenizer import END_OF_TEXT, gpt2_tokenizer


def test_parallel_chunked_tiny_shakespeare_matches_one_call():
    path = Path(asset_path("tinyshakespeare.txt"))
    sinks = {"train": io.BytesIO(), "val": io.BytesIO()}
    # Small chunks and two worker processes: hundreds of cut points, all safe.
    counts = tokenize_splits([path], 0.9, sinks, workers=2, chunk_chars=20_000)
    assert counts == {"train": 301_966, "val": 36_059}
    text = path.read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    for name, part in (("train", text[:cut]), ("val", text[cut:])):
        expected = gpt2_tokenizer().encode_ordinary(part)
        assert np.frombuffer(sinks[name].getvalue(), dtype=np.uint16).tolist() == expected


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
    in_memory = load_or_tokenize([path], 0.9, None)
    cached = load_or_tokenize([path], 0.9, tmp_path)
    for name in ("train", "val"):
        assert isinstance(cached[name], np.memmap)
        assert np.array_equal(in_memory[name], cached[name])


def test_a_byte_order_mark_is_not_text(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfHello")
    assert "".join(read_blocks(tmp_path / "bom.txt")) == "Hello"  # as Python's utf-8-sig reads it


def test_a_failed_tokenization_leaves_no_cache_entry(tmp_path):
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait " * 10)
    with pytest.raises(DataError, match="is not UTF-8"):
        load_or_tokenize([tmp_path / "latin1.txt"], 0.9, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
