"""A stopped run: its last step reaches TensorBoard, a second Ctrl-C aborts, a resumed run that
finishes drops its FAILED marker, and two processes never write into one run folder."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from gpt_experiments.run_folder.status import FAILED_MARKER
from gpt_experiments.training import run_lock
from tests.helpers import ROOT, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, PAUSE_AT_STEP, PAUSED_MARKER
from tests.training.test_resume import RESUMABLE_RUN, wait_for
from tests.training.test_training import read_events


def start_paused(tmp_path, leg: str, pause_at: int, *extra: str) -> tuple[subprocess.Popen, object]:
    losses = tmp_path / f"{leg}.jsonl"
    env = script_env(tmp_path, **{LOSSES_FILE: str(losses), PAUSE_AT_STEP: str(pause_at)})
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *RESUMABLE_RUN, *extra],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(tmp_path / f"{leg}.jsonl{PAUSED_MARKER}", process)
    return process, losses


@pytest.mark.slow
def test_stop_resume_lock_and_double_interrupt(tmp_path):
    # Leg 1: paused before step 7 (last.ckpt of step 5 exists); a concurrent resume is refused.
    first, _ = start_paused(tmp_path, "first", 6)
    try:
        [run_dir] = [
            p.parent.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/checkpoints/last.ckpt")
        ]
        checkpoint_before = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
        second = run_script("train.py", *RESUMABLE_RUN, "resume=auto", cwd=tmp_path, timeout=240)
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: {run_dir.resolve()} is in use by process {first.pid}, which is still running there: "
            f"wait for it to end (or stop it: kill {first.pid}), then run this command again"
        )
        assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == checkpoint_before
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 1 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: stopped by SIGINT at step 7; saved ")
    assert (run_dir / FAILED_MARKER).is_file()
    # The step during which the signal came is in TensorBoard (Lightning logs step 7 as 6).
    assert [e.step for e in read_events(run_dir).Scalars("train/loss")] == list(range(1, 8))

    # Leg 2: two Ctrl-C 50 ms apart: the second one ends the process at once.
    aborted, _ = start_paused(tmp_path, "aborted", 12, "resume=auto")
    aborted.send_signal(signal.SIGINT)
    time.sleep(0.05)
    aborted.send_signal(signal.SIGINT)
    _, stderr = aborted.communicate(timeout=60)
    assert aborted.returncode == -signal.SIGINT, stderr[-2000:]
    assert "Exception ignored" not in stderr and "aborting without saving" in stderr

    # Leg 3: the lock of the aborted process is taken over; the finished run is no longer FAILED.
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "last.jsonl")})
    last = run_script("train.py", *RESUMABLE_RUN, "resume=auto", cwd=tmp_path, timeout=240, env=env)
    assert last.returncode == 0, last.stderr[-3000:]
    assert not (run_dir / FAILED_MARKER).exists()
    assert (run_dir / ".lock").read_text().strip() != str(os.getpid())
    steps = {e.step for e in read_events(run_dir).Scalars("train/loss")}
    assert steps == set(range(1, 25))


def test_lock_is_exclusive_between_processes_and_left_to_rank_zero(tmp_path, monkeypatch):
    """An flock is per open file: a second descriptor (as another process has) is refused."""
    run_lock.lock_run_dir(tmp_path)
    try:
        other = os.open(tmp_path / run_lock.LOCK_FILE, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(other)
        monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP worker that Lightning launched
        assert not run_lock.is_first_process()
        run_lock.lock_run_dir(tmp_path / "unused")  # no lock taken, so no error for a missing folder
    finally:
        run_lock.release_run_dir(tmp_path)
    other = os.open(tmp_path / run_lock.LOCK_FILE, os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free for the next process
    os.close(other)
    assert (tmp_path / run_lock.LOCK_FILE).read_text() == f"{os.getpid()}\n"


@pytest.mark.slow
def test_ctrl_c_stops_the_whole_sweep(tmp_path):
    """A sweep's Ctrl-C saves the running job and ends the sweep, not just that job."""
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "sweep.jsonl"), PAUSE_AT_STEP: "1"})
    sweep = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "-m", *RESUMABLE_RUN, "optimizer.lr=1e-3,2e-3"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(tmp_path / f"sweep.jsonl{PAUSED_MARKER}", sweep)
        sweep.send_signal(signal.SIGINT)
        _, stderr = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
    assert sweep.returncode == 1
    assert stderr.strip().splitlines()[-1].endswith("(the sweep stops here: its remaining jobs did not run)")
    [job] = [p for p in (tmp_path / "outputs" / "multirun").glob("*/*/*") if p.is_dir()]
    assert job.name.startswith("0_") and (job / "checkpoints" / "last.ckpt").is_file()
