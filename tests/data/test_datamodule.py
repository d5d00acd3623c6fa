from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_experiments.config import asset_path
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.data.windows import TokenWindows, count_windows
from gpt_experiments.errors import ConfigError, DataError


def verdict_module(tmp_path: Path, **overrides) -> GPTDataModule:
    settings = dict(
        path=asset_path("the-verdict.txt"),
        max_length=256,
        stride=256,
        batch_size=2,
        cache_dir=str(tmp_path / "cache"),
    )
    module = GPTDataModule(**{**settings, **overrides})
    module.setup("fit")
    return module


def test_verdict_loaders_match_the_seed(tmp_path):
    module = verdict_module(tmp_path)
    train = list(module.train_dataloader())
    val_loader, train_eval_loader = module.val_dataloader()
    val = list(val_loader)
    assert len(train) == 9 and all(x.shape == y.shape == (2, 256) for x, y in train)
    assert len(val) == 1
    assert sum(x.numel() for x, _ in train) == 4_608
    assert sum(x.numel() for x, _ in val) == 512
    assert len(list(train_eval_loader)) == 5


def test_windows_are_shifted_slices_of_the_stream():
    tokens = np.arange(100, dtype=np.uint16)
    windows = TokenWindows(tokens, max_length=8, stride=5)
    assert len(windows) == count_windows(100, 8, 5) == len(range(0, 100 - 8, 5))
    for index in range(len(windows)):
        x, y = windows[index]
        start = index * 5
        assert torch.equal(x, torch.arange(start, start + 8))
        assert torch.equal(y, x + 1)


def test_token_cache_is_reused_and_keyed_by_content(tmp_path):
    text_file = tmp_path / "a.txt"
    text_file.write_text("hello there, general kenobi. " * 200)
    first = verdict_module(tmp_path, path=str(text_file), max_length=16, stride=16)
    cached = sorted((tmp_path / "cache").rglob("*.bin"))
    assert len(cached) == 2
    mtimes = [p.stat().st_mtime_ns for p in cached]
    second = verdict_module(tmp_path, path=str(text_file), max_length=16, stride=16)
    assert [p.stat().st_mtime_ns for p in cached] == mtimes  # read back, not rewritten
    assert np.array_equal(first.windows.tokens["train"], second.windows.tokens["train"])
    text_file.write_text("something else entirely. " * 200)
    verdict_module(tmp_path, path=str(text_file), max_length=16, stride=16)
    assert len(sorted((tmp_path / "cache").rglob("*.bin"))) == 4


def test_directories_and_globs_join_documents_with_end_of_text(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("first document " * 50)
    (corpus / "b.md").write_text("second document " * 50)
    (corpus / "skip.bin").write_bytes(b"\x00\x01")
    by_dir = verdict_module(tmp_path, path=str(corpus), max_length=8, stride=8, train_ratio=0.5)
    files = [str(corpus / "a.txt"), str(corpus / "*.md")]
    by_glob = verdict_module(tmp_path, path=files, max_length=8, stride=8, train_ratio=0.5)
    all_tokens = np.concatenate([by_dir.windows.tokens["train"], by_dir.windows.tokens["val"]])
    assert 50256 in all_tokens
    assert np.array_equal(by_dir.windows.tokens["val"], by_glob.windows.tokens["val"])


def test_too_short_validation_split_names_split_tokens_and_context(tmp_path):
    with pytest.raises(
        DataError, match=r"the val split has \d+ tokens, too few for one window of max_length 1024"
    ):
        verdict_module(tmp_path, max_length=1024, stride=1024)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stride": 0}, "data.stride=0 is invalid: it must be a positive integer"),
        ({"batch_size": -1}, "data.batch_size=-1 is invalid"),
        ({"train_ratio": 1.0}, "data.train_ratio=1.0 is invalid: it must be strictly between 0 and 1"),
        ({"path": "/no/such/file.txt"}, "data.path /no/such/file.txt does not exist"),
        ({"split": "random"}, "data.split='random' is unknown: choose from chars, documents"),
        ({"val_tokens": 0}, "data.val_tokens=0 is invalid: it must be positive, or null"),
        ({"source": "csv"}, "data.source='csv' is unknown: choose from text, jsonl, parquet, huggingface"),
        ({"source": "llmc", "path": "/no/such/dir"}, "data.path /no/such/dir is not a folder"),
        ({"source": "jsonl", "path": "/no/such/a.jsonl"}, "point data.path at a JSON Lines file, directory"),
    ],
)
def test_bad_data_settings_are_one_line_errors(tmp_path, overrides, message):
    with pytest.raises((ConfigError, DataError), match=message) as info:
        verdict_module(tmp_path, **overrides)
    assert "\n" not in str(info.value)


def test_non_utf8_file_names_the_byte_offset(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9 au lait " * 10)
    with pytest.raises(DataError, match=r"latin1.txt is not UTF-8 \(byte 3"):
        verdict_module(tmp_path, path=str(bad))
