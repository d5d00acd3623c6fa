"""Resuming: a run killed with SIGKILL mid-epoch, killed while saving after a validation, or ended by
``max_steps`` mid-epoch continues with exactly the losses (and history) of an uninterrupted run."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt_experiments.run_folder.provenance import legs, read_provenance
from gpt_experiments.training.launch import resume_overrides
from gpt_experiments.training.resume import plan_resume_from_path
from tests.helpers import ROOT, TINY_RUN, run_script, script_env
from tests.helpers.step_losses import (
    LOSSES_FILE,
    PAUSE_AT_STEP,
    PAUSE_IN_SAVE_AT_STEP,
    PAUSED_MARKER,
    read_step_losses,
)
from tests.training.test_training import read_events

# One test worker runs this file's tests, so the uninterrupted reference run is trained once.
pytestmark = pytest.mark.xdist_group("one_process_reference")

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


def train(tmp_path: Path, losses: str, *overrides: str) -> subprocess.CompletedProcess:
    """A run of RESUMABLE_RUN to its end."""
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / losses)})
    result = run_script("train.py", *RESUMABLE_RUN, *overrides, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def train_and_kill(tmp_path: Path, losses: str, *overrides: str, **pause: str) -> Path:
    """A run SIGKILLed where the ``pause`` (``PAUSE_AT_STEP=...`` or ``PAUSE_IN_SAVE_AT_STEP=...``)
    holds it; returns its run folder."""
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / losses)}, **pause)
    killed = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *RESUMABLE_RUN, *overrides],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(Path(f"{tmp_path / losses}{PAUSED_MARKER}"), killed)
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    return only_run(tmp_path)


def only_run(tmp_path: Path) -> Path:
    [run_dir] = [p.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/.hydra")]
    return run_dir


def history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


# Session scope: the worker may run other files' tests between this file's.
@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory) -> Path:
    """The run folder of an uninterrupted RESUMABLE_RUN, with its per-step losses in ``full.jsonl``."""
    tmp_path = tmp_path_factory.mktemp("one_process_uninterrupted")
    train(tmp_path, "full.jsonl")
    run_dir = only_run(tmp_path)
    shutil.copy(tmp_path / "full.jsonl", run_dir / "full.jsonl")
    return run_dir


@pytest.mark.slow
def test_run_killed_mid_epoch_resumes_with_identical_losses(tmp_path, uninterrupted):
    killed_losses = tmp_path / "killed.jsonl"
    run_dir = train_and_kill(tmp_path, "killed.jsonl", **{PAUSE_AT_STEP: str(KILL_AFTER_STEP)})
    assert (
        torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == KILL_AFTER_STEP
    )

    # Loaded by worker processes (num_workers never changes results): they draw the resumed
    # epoch's windows, from where it stopped, even though their loader starts before both are set.
    stdout = train(tmp_path, "resumed.jsonl", "resume=auto", "data.num_workers=2").stdout
    assert f"Resuming from {(run_dir / 'checkpoints' / 'last.ckpt').relative_to(tmp_path)}" in stdout

    expected = read_step_losses(uninterrupted / "full.jsonl")
    before_kill = read_step_losses(killed_losses)
    after_resume = read_step_losses(tmp_path / "resumed.jsonl")
    assert sorted(before_kill) == list(range(1, KILL_AFTER_STEP + 1))
    assert sorted(after_resume) == list(range(KILL_AFTER_STEP + 1, 25))
    assert {**before_kill, **after_resume} == expected  # exact float equality, step by step

    # The resumed leg wrote into the same run folder: history and TensorBoard curves continue.
    assert [int(row["step"]) for row in history(run_dir)] == [8, 16, 24]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2
    events = read_events(run_dir)
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 25))  # optimizer steps done


@pytest.mark.slow
def test_run_ended_by_max_steps_mid_epoch_continues_where_it_stopped(tmp_path, uninterrupted):
    train(tmp_path, "first.jsonl", "trainer.max_steps=4")  # before any other save: at the run's end
    run_dir = only_run(tmp_path)
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    # Epoch 0, 4 steps of batch 2 into it (it used to say epoch 1, 8 windows into that).
    assert (saved["global_step"], saved["epoch"]) == (4, 0)
    assert saved["GPTDataModule"] == {"epoch": 0, "windows_done": 8}

    train(tmp_path, "continued.jsonl", "resume=auto", "trainer.max_steps=-1")
    first, continued = (
        read_step_losses(tmp_path / "first.jsonl"),
        read_step_losses(tmp_path / "continued.jsonl"),
    )
    assert sorted(continued) == list(range(5, 25))
    assert {**first, **continued} == read_step_losses(uninterrupted / "full.jsonl")  # exact, step by step
    assert history(run_dir) == history(uninterrupted)
    # The continuation is one more entry of the run's provenance, and more lines of its train.log.
    first_leg, resumed_leg = legs(read_provenance(run_dir))
    assert (first_leg["outcome"], resumed_leg["outcome"]) == ("finished", "finished")
    assert resumed_leg["command"][-2:] == ["resume=auto", "trainer.max_steps=-1"]  # as typed
    assert (run_dir / "train.log").read_text().count("Run folder:") == 2


@pytest.mark.slow
def test_run_killed_while_saving_after_a_validation_resumes_with_that_validation(tmp_path, uninterrupted):
    # last.ckpt every epoch (8 steps): the step-triggered save coincides with the validation's.
    every_epoch = "callbacks.last_checkpoint.every_n_train_steps=8"
    run_dir = train_and_kill(tmp_path, "killed.jsonl", every_epoch, **{PAUSE_IN_SAVE_AT_STEP: "16"})
    assert [int(row["step"]) for row in history(run_dir)] == [8, 16]  # epoch 1's row was on disk

    resumed = train(tmp_path, "resumed.jsonl", every_epoch, "resume=auto")
    assert "before its validation" not in resumed.stderr
    # Epoch 1's validation ran again: its row is kept, and the best checkpoint is the uninterrupted run's.
    assert history(run_dir) == history(uninterrupted)
    best = sorted(p.name for p in (run_dir / "checkpoints").glob("best-*"))
    assert best == sorted(p.name for p in (uninterrupted / "checkpoints").glob("best-*"))
    # No checkpoint of step 16 was complete at the kill: the run resumed from epoch 0's.
    expected = read_step_losses(uninterrupted / "full.jsonl")
    killed, resumed = (read_step_losses(tmp_path / name) for name in ("killed.jsonl", "resumed.jsonl"))
    assert sorted(killed) == list(range(1, 17)) and sorted(resumed) == list(range(9, 25))
    assert {step: expected[step] for step in killed} == killed  # exact, step by step
    assert {step: expected[step] for step in resumed} == resumed


@pytest.mark.slow
def test_a_stop_signal_in_an_epochs_last_step_says_that_its_validation_is_skipped(tmp_path):
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "stopped.jsonl"), PAUSE_AT_STEP: "7"})
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), *RESUMABLE_RUN, "trainer.max_epochs=2"]
    stopped = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(Path(f"{tmp_path / 'stopped.jsonl'}{PAUSED_MARKER}"), stopped)
        stopped.send_signal(signal.SIGTERM)  # in step 8 of 8: saved at its end, before the validation
        assert "stopped by SIGTERM at step 8" in stopped.communicate(timeout=120)[1]
    finally:
        stopped.kill()
    resumed = train(tmp_path, "resumed.jsonl", "trainer.max_epochs=2", "resume=auto")
    assert "warning: the checkpoint was saved at the end of epoch 0, before its validation" in resumed.stderr
    assert [int(row["step"]) for row in history(only_run(tmp_path))] == [16]


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
        f"ckpt_path='{run / 'checkpoints' / 'last.ckpt'}'",
        f"hydra.run.dir='{run}'",
    ]
