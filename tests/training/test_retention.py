"""Checkpoint retention: the last k step checkpoints, plus milestones that are never deleted."""

from __future__ import annotations

from gpt_experiments.training.run import train
from tests.helpers import TINY_RUN


def test_keeps_the_last_k_step_checkpoints_and_every_milestone(compose_train, tmp_path):
    cfg = compose_train(
        *TINY_RUN,
        "~logger",
        "callbacks=retention",
        "callbacks.text_samples=null",
        "callbacks.recent_checkpoints.save_top_k=2",
        "callbacks.recent_checkpoints.every_n_train_steps=2",
        "callbacks.milestones.every_n_train_steps=5",
        "trainer.max_steps=13",
        "trainer.limit_val_batches=1",
    )
    train(cfg, tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    step_checkpoints = [n for n in names if n.startswith("step")]
    milestones = [n for n in names if n.startswith("milestone")]
    assert step_checkpoints == ["step000010.ckpt", "step000012.ckpt"]  # 2, 4, 6, 8 deleted in turn
    assert milestones == ["milestone-step000005.ckpt", "milestone-step000010.ckpt"]
    assert "last.ckpt" in names
