"""last.ckpt beside a new best checkpoint is a hard link to it, written once, and resumes."""

from __future__ import annotations

import os

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from gpt_experiments.checkpoints.retention import LinkedLastCheckpoint, link_atomically
from gpt_experiments.training.run import train
from tests.helpers import TINY_RUN


def test_last_is_a_hard_link_to_the_best_saved_at_the_same_step(compose_train, tmp_path):
    cfg = compose_train(*TINY_RUN, "~logger", "callbacks.text_samples=null", "trainer.max_epochs=1")
    train(cfg, tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints"
    (best,) = folder.glob("best-*.ckpt")
    last = folder / "last.ckpt"
    assert os.path.samefile(best, last) and not last.is_symlink()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary left
    saved = torch.load(last, weights_only=False, map_location="cpu")
    assert saved["global_step"] > 0 and saved["optimizer_states"]  # a full checkpoint


def test_a_run_resumes_from_the_linked_last_checkpoint(compose_train, tmp_path):
    first = compose_train(*TINY_RUN, "~logger", "callbacks.text_samples=null", "trainer.max_epochs=1")
    train(first, tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints"
    steps_after_one_epoch = torch.load(folder / "last.ckpt", weights_only=False)["global_step"]
    resumed = compose_train(
        *TINY_RUN,
        "~logger",
        "callbacks.text_samples=null",
        "trainer.max_epochs=2",
        f"resume={tmp_path / 'run'}",
    )
    train(resumed, tmp_path / "run")
    assert torch.load(folder / "last.ckpt", weights_only=False)["global_step"] == 2 * steps_after_one_epoch


def test_link_replaces_the_old_file_and_outlives_the_source(tmp_path):
    source, link = tmp_path / "best.ckpt", tmp_path / "last.ckpt"
    source.write_bytes(b"new")
    link.write_bytes(b"old")
    link_atomically(source, link)
    source.unlink()  # a better checkpoint deletes the old best's name
    assert link.read_bytes() == b"new"


def test_the_state_key_is_model_checkpoints_so_older_runs_resume_it():
    settings = dict(monitor="val/loss", mode="min", save_last=True)
    assert LinkedLastCheckpoint(**settings).state_key == ModelCheckpoint(**settings).state_key
