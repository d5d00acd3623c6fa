"""Checkpoints carry a format version; every older one is upgraded as it is read, a newer one refused.

tests/fixtures/pre_layout_run/ holds a version-1 checkpoint (written before the version was
stamped): one RNG state for all ranks, the data position in batches, the scheduler by name,
no tokenizer, and none of the model settings added since.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments.checkpoints.project import load_tokenizer
from gpt_experiments.errors import CheckpointError
from gpt_experiments.legacy import (
    CHECKPOINT_MIGRATIONS,
    FORMAT_KEY,
    FORMAT_VERSION,
    UNVERSIONED,
    data_position_in_windows,
    upgrade_checkpoint,
)
from gpt_experiments.model import GPTConfig
from gpt_experiments.tokenizer import gpt2
from gpt_experiments.training.lit_module import GPTLitModule
from tests.helpers import quiet_trainer, run_script

FIXTURE_CHECKPOINT = (
    Path(__file__).resolve().parents[1] / "fixtures" / "pre_layout_run" / "checkpoints" / "last.ckpt"
)
TINY = {"vocab_size": 64, "context_length": 8, "emb_dim": 8, "n_heads": 2, "n_layers": 1}


def version_one() -> dict:
    return torch.load(FIXTURE_CHECKPOINT, weights_only=True)


def test_every_older_version_has_one_migration_to_the_next():
    assert set(CHECKPOINT_MIGRATIONS) == set(range(UNVERSIONED, FORMAT_VERSION))


def test_a_version_one_checkpoint_reads_in_todays_form():
    checkpoint = version_one()
    assert FORMAT_KEY not in checkpoint
    rng_state = checkpoint["callbacks"]["RNGStateCheckpoint"]
    upgrade_checkpoint(checkpoint)
    assert checkpoint[FORMAT_KEY] == FORMAT_VERSION
    assert checkpoint["callbacks"]["RNGStateCheckpoint"] == {"ranks": [rng_state]}
    hparams = checkpoint["hyper_parameters"]
    assert hparams["scheduler"] == {"_target_": "gpt_experiments.training.schedules.constant_schedule"}
    assert hparams["tokenizer"] == {"kind": "gpt2"}
    assert set(hparams["model"]) == set(GPTConfig().to_dict())
    assert hparams["model"]["norm"] == "layernorm" and hparams["model"]["emb_dim"] == 4  # saved values kept
    assert upgrade_checkpoint(dict(checkpoint)) == checkpoint  # upgrading today's format changes nothing


def test_a_version_one_spike_guard_state_counts_no_consecutive_skips():
    checkpoint = {"callbacks": {"SkipSpikes": {"skipped": [3], "history": {}}}}
    upgrade_checkpoint(checkpoint)
    assert checkpoint["callbacks"]["SkipSpikes"] == {"skipped": [3], "history": {}, "consecutive": 0}


def test_a_data_position_in_batches_is_counted_in_windows_of_the_runs_batch_size():
    assert data_position_in_windows({"epoch": 1, "batches_done": 6}, batch_size=2) == {
        "epoch": 1,
        "windows_done": 12,
    }
    today = {"epoch": 0, "windows_done": 8}
    assert data_position_in_windows(today, batch_size=2) == today


def test_a_checkpoint_of_a_newer_format_is_refused():
    with pytest.raises(CheckpointError, match=f"format 99, newer than the {FORMAT_VERSION}"):
        upgrade_checkpoint({FORMAT_KEY: 99, "state_dict": {}})


def test_checkpoints_written_by_training_carry_todays_version(tmp_path):
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    ids = torch.zeros(2, 8, dtype=torch.long)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=DataLoader(TensorDataset(ids, ids), batch_size=2))
    trainer.save_checkpoint(tmp_path / "saved.ckpt")
    assert torch.load(tmp_path / "saved.ckpt", weights_only=True)[FORMAT_KEY] == FORMAT_VERSION


def test_the_version_one_fixture_loads_its_tokenizer():
    assert load_tokenizer(FIXTURE_CHECKPOINT).to_dict() == gpt2().to_dict()


@pytest.mark.slow
def test_generate_refuses_a_newer_checkpoint_in_one_line(tmp_path):
    checkpoint = version_one()
    checkpoint[FORMAT_KEY] = FORMAT_VERSION + 1
    newer = tmp_path / "newer.ckpt"
    torch.save(checkpoint, newer)
    before = newer.read_bytes()
    result = run_script("generate.py", f"ckpt={newer}", "prompt=hi", cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {newer} is in checkpoint format {FORMAT_VERSION + 1}, newer than the {FORMAT_VERSION} "
        "this gpt-experiments reads: upgrade gpt-experiments (pip install -U gpt-experiments)"
    )
    assert "Traceback" not in result.stderr and newer.read_bytes() == before


def test_the_fixture_stays_version_one(tmp_path):
    """The fixture is the oldest format read (docs/reliability.md): loading it must not rewrite it."""
    copy = tmp_path / "last.ckpt"
    shutil.copy(FIXTURE_CHECKPOINT, copy)
    load_tokenizer(copy)
    assert FORMAT_KEY not in torch.load(copy, weights_only=True)
