"""llm.c shards and nanoGPT .bin files: the format byte for byte, and streams that span shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_experiments.config import asset_path
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.data.samplers import ResumableRandomSampler
from gpt_experiments.data.shards import ShardWriter, open_raw_bin, open_shard, read_shard_header, token_dtype
from gpt_experiments.data.token_view import ConcatenatedTokens, first_tokens
from gpt_experiments.errors import DataError


@pytest.mark.parametrize(("vocab_size", "magic", "version"), [(50257, 20240520, 1), (128_256, 20240801, 7)])
def test_llmc_shard_round_trip(tmp_path, vocab_size, magic, version):
    dtype = token_dtype(vocab_size)
    tokens = np.random.default_rng(0).integers(0, vocab_size, size=2_500).astype(dtype)
    writer = ShardWriter(tmp_path, "train", dtype, shard_tokens=1_000)
    writer.write(tokens[:1_700])  # writes that do not line up with the shard size
    writer.write(tokens[1_700:])
    paths = writer.close()
    assert [p.name for p in paths] == ["train_000000.bin", "train_000001.bin", "train_000002.bin"]
    header = np.fromfile(paths[0], dtype="<i4", count=256)
    assert header[:3].tolist() == [magic, version, 1_000] and not header[3:].any()
    assert np.fromfile(paths[2], dtype="<i4", count=3)[2] == 500
    assert paths[0].stat().st_size == 1024 + 1_000 * dtype.itemsize
    assert read_shard_header(paths[2]) == (dtype, 500)
    read_back = np.concatenate([open_shard(p) for p in paths])
    assert read_back.dtype == dtype and np.array_equal(read_back, tokens)
    assert isinstance(open_shard(paths[0]), np.memmap)


def test_uint32_only_beyond_uint16():
    assert token_dtype(50257) == np.uint16 and token_dtype(65_536) == np.uint16
    assert token_dtype(65_537) == np.uint32


def test_nanogpt_bin_is_raw_uint16(tmp_path):
    tokens = np.arange(300, dtype=np.uint16)
    writer = ShardWriter(tmp_path, "val", np.dtype(np.uint16), shard_tokens=100, header=False)
    writer.write(tokens)
    (path,) = writer.close()
    assert path.name == "val.bin" and path.read_bytes() == tokens.tobytes()
    assert np.array_equal(open_raw_bin(path), tokens)


def test_bad_shard_files_are_one_line_errors(tmp_path):
    raw = tmp_path / "raw.bin"
    np.arange(600, dtype=np.uint16).tofile(raw)
    with pytest.raises(DataError, match="magic 65536 version 196610, not an llm.c shard"):
        open_shard(raw)
    writer = ShardWriter(tmp_path, "train", np.dtype(np.uint16), shard_tokens=100)
    writer.write(np.arange(100, dtype=np.uint16))
    (shard,) = writer.close()
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="header promises 100 tokens"):
        open_shard(shard)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 7), min_size=1, max_size=6),
    start=st.integers(0, 45),
    length=st.integers(0, 45),
)
def test_concatenated_slices_equal_slices_of_the_whole(sizes, start, length):
    parts = np.split(np.arange(sum(sizes), dtype=np.uint16), np.cumsum(sizes)[:-1])
    whole = np.concatenate(parts)
    view = ConcatenatedTokens(parts)
    assert len(view) == len(whole)
    assert np.array_equal(view[start : start + length], whole[start : start + length])
    assert np.array_equal(np.asarray(first_tokens(view, length)), whole[:length])


def test_sharded_cache_windows_and_batches_equal_the_unsharded_ones(tmp_path):
    settings = dict(path=asset_path("the-verdict.txt"), max_length=32, stride=7, batch_size=4)
    whole = GPTDataModule(**settings, cache_dir=str(tmp_path / "whole"))
    sharded = GPTDataModule(**settings, cache_dir=str(tmp_path / "sharded"), shard_tokens=500)
    for module in (whole, sharded):
        module.setup("fit")
    assert isinstance(sharded.windows.tokens["train"], ConcatenatedTokens)
    assert len(sharded.windows.tokens["train"].parts) == 10  # 4,6xx training tokens in shards of 500
    assert len(sharded.windows.train_set) == len(whole.windows.train_set)
    for index in range(len(whole.windows.train_set)):  # many windows straddle a shard boundary
        (x, y), (x_whole, y_whole) = sharded.windows.train_set[index], whole.windows.train_set[index]
        assert torch.equal(x, x_whole) and torch.equal(y, y_whole)
    # The resumable sampler's order is over window indices, so batches match too.
    assert isinstance(sharded.train_sampler, ResumableRandomSampler)
    for a, b in zip(sharded.train_dataloader(), whole.train_dataloader(), strict=True):
        assert torch.equal(a[0], b[0])
