"""Resuming: a run killed with SIGKILL mid-epoch continues with exactly the losses of an uninterrupted run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt_experiments.training.launch import resume_overrides
from gpt_experiments.training.resume import plan_resume_from_path
from tests.helpers import ROOT, TINY_RUN, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, PAUSE_AT_STEP, PAUSED_MARKER, read_step_losses
from tests.training.test_training import read_events

# 8 steps per epoch, 3 epochs, last.ckpt every 5 steps; dropout on, so the RNG must be restored too.
RESUMABLE_RUN = [
    *TINY_RUN,
    "model.drop_rate=0.1",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "callbacks.last_checkpoint.every_n_train_steps=5",
    "trainer.log_every_n_steps=1",  # every step in TensorBoard, to check the resumed curve continues
    "+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder",
]
KILL_AFTER_STEP = 10  # epoch 1, batch 2 of 8: the resumed run must skip into the epoch's order


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended (rc {process.returncode}) before {path.name} appeared")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_run_killed_mid_epoch_resumes_with_identical_losses(tmp_path):
    full = run_script(
        "train.py",
        *RESUMABLE_RUN,
        "paths.log_dir=uninterrupted",
        cwd=tmp_path,
        env=script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "full.jsonl")}),
    )
    assert full.returncode == 0, full.stderr[-3000:]

    killed_losses = tmp_path / "killed.jsonl"
    env = script_env(tmp_path, **{LOSSES_FILE: str(killed_losses), PAUSE_AT_STEP: str(KILL_AFTER_STEP)})
    killed = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *RESUMABLE_RUN],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(Path(f"{killed_losses}{PAUSED_MARKER}"), killed)
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    [run_dir] = [p.parent.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/checkpoints/last.ckpt")]
    assert (
        torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == KILL_AFTER_STEP
    )

    resumed = run_script(
        "train.py",
        *RESUMABLE_RUN,
        "resume=auto",
        cwd=tmp_path,
        env=script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "resumed.jsonl")}),
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {(run_dir / 'checkpoints' / 'last.ckpt').relative_to(tmp_path)}" in resumed.stdout

    expected = read_step_losses(tmp_path / "full.jsonl")
    before_kill = read_step_losses(killed_losses)
    after_resume = read_step_losses(tmp_path / "resumed.jsonl")
    assert sorted(before_kill) == list(range(1, KILL_AFTER_STEP + 1))
    assert sorted(after_resume) == list(range(KILL_AFTER_STEP + 1, 25))
    assert {**before_kill, **after_resume} == expected  # exact float equality, step by step

    # The resumed leg wrote into the same run folder: history and TensorBoard curves continue.
    with open(run_dir / "history.csv") as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == [8, 16, 24]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2
    events = read_events(run_dir)
    assert [e.step for e in events.Scalars("train/loss")] == list(range(24))


def test_resume_from_a_run_folder_rebuilds_the_run_and_writes_into_it(tmp_path):
    run = tmp_path / "outputs" / "runs" / "earlier"
    (run / ".hydra").mkdir(parents=True)
    saved = ["model=tiny", "trainer.max_epochs=2", "resume=auto", "ckpt_path=old.ckpt"]
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in saved))
    (run / "checkpoints").mkdir()
    torch.save({"global_step": 3}, run / "checkpoints" / "last.ckpt")

    plan = plan_resume_from_path(str(run))
    assert (plan.checkpoint, plan.run_dir) == (run / "checkpoints" / "last.ckpt", run)
    # The run's own overrides come back (not its resume bookkeeping); today's win over them.
    assert resume_overrides(plan, ["trainer.max_epochs=5", f"resume={run}"]) == [
        "model=tiny",
        "trainer.max_epochs=5",
        f"resume={run}",
        f"ckpt_path='{run / 'checkpoints' / 'last.ckpt'}'",
        f"hydra.run.dir='{run}'",
    ]
