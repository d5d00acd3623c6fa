"""Every data source: the same documents give the same tokens, and each trains the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpt_experiments.config import CONF_DIR
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.data.export import export_tokens
from gpt_experiments.errors import DataError
from gpt_experiments.training.compose import compose_config
from gpt_experiments.training.config_checks import validate_config
from gpt_experiments.training.lit_module import GPTLitModule
from tests.data.corpora import write_jsonl, write_parquet, write_saved_dataset, write_text_folder
from tests.helpers import quiet_trainer

TINY = dict(vocab_size=50257, context_length=16, emb_dim=24, n_heads=3, n_layers=2, drop_rate=0.0)


def corpus_in(source: str, tmp_path: Path) -> dict:
    """The data settings that read the test corpus as ``source``."""
    if source == "text":
        return {"source": "text", "path": str(write_text_folder(tmp_path / "texts"))}
    if source == "jsonl":
        return {
            "source": "jsonl",
            "path": str(write_jsonl(tmp_path / "docs.jsonl", "body")),
            "text_field": "body",
        }
    if source == "parquet":
        return {"source": "parquet", "path": str(write_parquet(tmp_path / "docs.parquet"))}
    if source == "huggingface":
        return {"source": "huggingface", "path": str(write_saved_dataset(tmp_path / "saved"))}
    if source == "huggingface_files":
        return {"source": "huggingface", "path": str(write_jsonl(tmp_path / "docs.jsonl"))}
    if source == "huggingface_streaming":
        return {
            "source": "huggingface",
            "path": str(write_parquet(tmp_path / "docs.parquet")),
            "streaming": True,
        }
    # Pre-tokenized: the text corpus exported by the same code prepare_data.py runs.
    fmt = source
    text = GPTDataModule(**corpus_in("text", tmp_path), cache_dir=str(tmp_path / "cache"))
    export_tokens(text.windows.load_tokens(), tmp_path / fmt, fmt, shard_tokens=100)
    return {"source": fmt, "path": str(tmp_path / fmt)}


def data_module(settings: dict, tmp_path: Path) -> GPTDataModule:
    windows = dict(max_length=16, stride=16, batch_size=2, eval_train_batches=1)
    module = GPTDataModule(**settings, **windows, cache_dir=str(tmp_path / "cache"))
    module.setup("fit")
    return module


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    """``load_dataset`` on data files writes Arrow files to its cache: keep them out of ~/.cache."""
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


SOURCES = [
    "text",
    "jsonl",
    "parquet",
    "huggingface",
    "huggingface_files",
    "huggingface_streaming",
    "llmc",
    "nanogpt_bin",
]


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_gives_the_text_files_tokens_and_trains(tmp_path, source):
    reference = data_module(corpus_in("text", tmp_path / "reference"), tmp_path / "reference")
    module = data_module(corpus_in(source, tmp_path), tmp_path)
    for split in ("train", "val"):
        assert np.array_equal(
            np.asarray(module.windows.tokens[split]), np.asarray(reference.windows.tokens[split])
        )
    trainer = quiet_trainer(max_steps=3, limit_val_batches=1, num_sanity_val_steps=0)
    lit = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    trainer.fit(lit, datamodule=module)
    assert trainer.global_step == 3
    assert np.isfinite(float(trainer.callback_metrics["train/loss"]))


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml")))
def test_every_data_option_composes_and_validates(option):
    cfg = compose_config(CONF_DIR, "train", [f"data={option}", "data.path=somewhere", "model=tiny"])
    validate_config(cfg)
    assert cfg.data.source in ("text", "jsonl", "parquet", "huggingface", "llmc", "nanogpt_bin")


def test_missing_text_field_is_a_one_line_error(tmp_path):
    settings = {"source": "jsonl", "path": str(write_jsonl(tmp_path / "docs.jsonl", "body"))}
    with pytest.raises(DataError, match=r"docs.jsonl line 1 has no string field 'text' \(has: id, body\)"):
        data_module(settings, tmp_path)
    settings = {
        "source": "parquet",
        "path": str(write_parquet(tmp_path / "docs.parquet")),
        "text_field": "body",
    }
    with pytest.raises(DataError, match=r"has no column 'body' \(has: id, text\): set data.text_field"):
        data_module(settings, tmp_path)


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"a.jsonl": '{"text": "ok"}\n{"text": "ok"}\n{"text": oops}\n'}, "a.jsonl line 3"),
        ({"a.json": '[\n  {"text": "ok"},\n  {"text": oops}\n]\n'}, "a.json line 3"),  # one document
        ({"a.jsonl": '{"text": "ok"}\n', "b.jsonl": '\n{"text": "ok"}\n{"text"\n'}, "b.jsonl line 3"),
        ({"a.json": '[{"text": "ok"}]', "b.jsonl": '{"text": "ok"}\n\n{"text": "x"}\n'}, None),
    ],
    ids=["json-lines", "whole-document", "second-file", "all-valid"],
)
def test_the_first_invalid_json_line_is_named_for_the_datasets_refusal(tmp_path, files, where):
    """datasets names only a row of a block; the error line names the file and line instead."""
    from gpt_experiments.data.sources.huggingface import first_invalid_json_line

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert first_invalid_json_line(sorted(tmp_path / name for name in files)) == where
