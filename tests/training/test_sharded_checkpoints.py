"""Sharded (torch.distributed.checkpoint) checkpoints: written by 2 processes, loaded by 1 and back,
gathered into one file, and replaced atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from gpt_experiments.convert.project import CheckpointError, safe_torch_load
from gpt_experiments.training.resume import newest_loadable_checkpoint
from gpt_experiments.training.sharded_checkpoint import consolidate, replace_folder, staging_path
from tests.helpers import TINY_RUN, run_script

SHARDED_RUN = [
    *TINY_RUN,
    "trainer=fsdp2",
    "trainer.strategy.checkpoint=sharded",
    "trainer.precision=32-true",
    "trainer.accelerator=cpu",
    "trainer.limit_val_batches=2",
    "data.eval_train_batches=0",
    "~logger",
    "callbacks.model_checkpoint=null",
    "callbacks.last_checkpoint.every_n_train_steps=3",
]


def train(tmp_path: Path, name: str, *overrides: str) -> str:
    result = run_script(
        "train.py", *SHARDED_RUN, *overrides, f"hydra.run.dir={tmp_path / name}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def max_weight_change(before: dict, after: dict) -> float:
    """The largest change of any model weight (the module's counters, like tokens_seen, left out)."""
    weights = [name for name in before if name.startswith("model.")]
    return max((after[name] - before[name]).abs().max().item() for name in weights)


@pytest.mark.slow
def test_saved_by_two_processes_loaded_by_one_and_back_and_gathered_into_one_file(tmp_path):
    train(tmp_path, "two", "trainer.devices=2", "trainer.max_steps=6")
    saved = tmp_path / "two" / "checkpoints" / "last.ckpt"
    assert sorted(p.name for p in saved.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert not staging_path(saved).exists()
    with pytest.raises(CheckpointError, match="is a sharded checkpoint: gather it"):
        safe_torch_load(saved)

    # Each leg starts with another seed: if the weights were not loaded, they would be a fresh,
    # different initialisation, far (> 0.05) from the saved ones; loaded, 3 AdamW steps of lr
    # 4e-4 move them less than 3e-3.
    # This leg saves asynchronously: its last save completes, and is swapped in, as the run ends.
    one = ["trainer.devices=1", "trainer.max_steps=9", "trainer.strategy.async_save=true"]
    train(tmp_path, "one", *one, f"ckpt_path={saved}", "seed=7")
    resaved = tmp_path / "one" / "checkpoints" / "last.ckpt"
    assert [p.name for p in resaved.glob("*.distcp")] == ["__0_0.distcp"]
    train(tmp_path, "back", "trainer.devices=2", "trainer.max_steps=12", f"ckpt_path={resaved}", "seed=11")

    two, one, back = (
        consolidate(folder / "checkpoints" / "last.ckpt", tmp_path / f"{folder.name}.ckpt")
        for folder in (tmp_path / "two", tmp_path / "one", tmp_path / "back")
    )
    assert [c["global_step"] for c in (two, one, back)] == [6, 9, 12]
    assert 0 < max_weight_change(two["state_dict"], one["state_dict"]) < 3e-3
    assert 0 < max_weight_change(one["state_dict"], back["state_dict"]) < 3e-3

    # The gathered file is an ordinary checkpoint: generate reads it.
    result = run_script(
        "generate.py",
        f"ckpt={tmp_path / 'back.ckpt'}",
        "sampler.max_new_tokens=3",
        "prompt=Every",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def make_sharded(path: Path, step: int) -> None:
    path.mkdir(parents=True)
    (path / ".metadata").write_bytes(b"dcp")
    torch.save({"global_step": step}, path / "meta.pt")


def test_a_crash_in_a_sharded_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    make_sharded(last, step=3)
    # Killed while writing: the staging folder is incomplete, last.ckpt untouched.
    staging_path(last).mkdir()
    assert newest_loadable_checkpoint(run) == last
    # Killed between the two renames: the old checkpoint is found under its .previous name.
    shutil.rmtree(staging_path(last))
    last.rename(last.with_name("last.previous.ckpt"))
    assert newest_loadable_checkpoint(run) == last.with_name("last.previous.ckpt")
    # A completed save: the new folder in place, the previous one gone.
    make_sharded(staging_path(last), step=6)
    last.with_name("last.previous.ckpt").rename(last)
    replace_folder(staging_path(last), last)
    assert safe_torch_load(last / "meta.pt")["global_step"] == 6
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
