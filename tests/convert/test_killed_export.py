"""convert_checkpoint.py killed between the two files of a Hugging Face export: the folder never
passes for a finished export, and the same command run again finishes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gpt_experiments.checkpoints.project import save_model
from gpt_experiments.convert.formats import load_any_model
from gpt_experiments.convert.huggingface import EXPORTED_CONFIG, EXPORTED_WEIGHTS
from gpt_experiments.model import GPT, GPTConfig
from tests.helpers import run_script
from tests.helpers.killed import run_killed

# Killed once model.safetensors is in place, before config.json is.
AFTER_WEIGHTS = ("gpt_experiments.convert.huggingface:atomic_write", 1)


def tiny_checkpoint(folder: Path, n_layers: int) -> Path:
    torch.manual_seed(n_layers)
    config = GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=n_layers)
    return save_model(GPT(config), folder / f"layers{n_layers}.ckpt")


def convert(source: Path, cwd: Path, *extra: str):
    return run_script("convert_checkpoint.py", str(source), "hf", "--to", "huggingface", *extra, cwd=cwd)


def assert_exported(folder: Path, source: Path) -> None:
    exported, original = load_any_model(folder).state_dict(), load_any_model(source).state_dict()
    assert all(torch.equal(exported[name], original[name]) for name in original)
    assert {p.name for p in folder.iterdir()} == {EXPORTED_CONFIG, EXPORTED_WEIGHTS}  # no temporaries left


@pytest.mark.slow
def test_a_killed_first_export_is_finished_by_the_same_command(tmp_path):
    source = tiny_checkpoint(tmp_path, 1)
    argv = [str(source), "hf", "--to", "huggingface"]
    run_killed("convert_checkpoint.py", *AFTER_WEIGHTS, *argv, cwd=tmp_path)
    assert not (tmp_path / "hf" / EXPORTED_CONFIG).exists()

    again = convert(source, tmp_path)  # no --overwrite: the files are the killed export's

    assert again.returncode == 0, again.stderr[-2000:]
    assert_exported(tmp_path / "hf", source)


@pytest.mark.slow
def test_a_killed_overwrite_never_leaves_the_old_config_beside_the_new_weights(tmp_path):
    old, new = tiny_checkpoint(tmp_path, 1), tiny_checkpoint(tmp_path, 2)
    assert convert(old, tmp_path).returncode == 0
    argv = [str(new), "hf", "--to", "huggingface", "--overwrite"]
    run_killed("convert_checkpoint.py", *AFTER_WEIGHTS, *argv, cwd=tmp_path)
    # The old config.json (1 layer) beside the new weights (2 layers) would read as a finished export.
    assert not (tmp_path / "hf" / EXPORTED_CONFIG).exists()

    again = convert(new, tmp_path)

    assert again.returncode == 0, again.stderr[-2000:]
    assert_exported(tmp_path / "hf", new)


@pytest.mark.slow
def test_a_finished_export_is_still_replaced_only_with_overwrite(tmp_path):
    source = tiny_checkpoint(tmp_path, 1)
    assert convert(source, tmp_path).returncode == 0
    again = convert(source, tmp_path)
    assert again.returncode == 1
    assert "hf/model.safetensors already exists: pass --overwrite" in again.stderr
