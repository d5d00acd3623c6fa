"""The stop-signal handlers: in place through Lightning's own teardown, given back by ``release``;
passed on to the processes a launcher started; and a launched process stops when its launcher
is killed (torchrun's workers live in sessions of their own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import psutil
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal, abort_on_signal
from tests.helpers import ROOT, quiet_trainer, script_env
from tests.helpers.step_losses import LOSSES_FILE, PAUSE_AT_STEP, PAUSE_RANK, PAUSED_MARKER
from tests.training.test_resume import wait_for
from tests.training.test_resume_devices import TWO_DEVICE_RUN


class OneWeight(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def training_step(self, batch, batch_idx):
        return (self.weight * batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_with(callback: SaveAndStopOnSignal) -> None:
    data = DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=1)
    quiet_trainer(max_steps=2, callbacks=[callback]).fit(OneWeight(), data)


def handlers_now() -> dict:
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def test_handlers_outlive_lightnings_teardown_until_released(tmp_path):
    before = handlers_now()
    callback = SaveAndStopOnSignal(tmp_path)
    try:
        fit_with(callback)
        # Lightning restores the handlers it found when the fit began: ours, so a second
        # Ctrl-C during its teardown aborts instead of raising KeyboardInterrupt there.
        assert signal.getsignal(signal.SIGINT) == callback._on_signal
        assert signal.getsignal(signal.SIGTERM) == callback._on_signal
        callback.release()
        assert handlers_now() == before
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_after_a_stop_further_signals_abort(tmp_path, capsys):
    before = handlers_now()
    callback = SaveAndStopOnSignal(tmp_path)
    try:
        callback.on_fit_start(None, None)
        callback._on_signal(signal.SIGINT, None)
        assert callback.received == "SIGINT"
        assert "saving after this step" in capsys.readouterr().err
        callback.release()
        assert signal.getsignal(signal.SIGINT) is abort_on_signal
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_stop_signal_is_passed_on_to_the_processes_the_launcher_started(tmp_path, capsys):
    before = handlers_now()
    sent = []
    launcher = SimpleNamespace(kill=sent.append)
    callback = SaveAndStopOnSignal(tmp_path)
    try:
        callback.on_fit_start(SimpleNamespace(strategy=SimpleNamespace(launcher=launcher)), None)
        callback._on_signal(signal.SIGTERM, None)
        assert sent == [signal.SIGTERM]  # every rank stops, not rank 0 alone
        assert callback.received == "SIGTERM"
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


# A launcher that starts a worker in a session of its own, as torchrun does, and waits; the
# worker watches its launcher as SaveAndStopOnSignal does in a launched process.
LAUNCHER = textwrap.dedent(
    """
    import subprocess, sys, time
    worker = (
        "import os, time\\n"
        "from gpt_experiments.training.callbacks.signals import stop_when_orphaned\\n"
        "stop_when_orphaned(os.getppid(), interval_s=0.1)\\n"
        "print('watching', flush=True)\\n"
        "time.sleep(60)\\n"
    )
    child = subprocess.Popen([sys.executable, "-c", worker], start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


def test_a_launched_process_stops_when_its_launcher_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    worker = psutil.Process(int(launcher.stdout.readline()))
    assert launcher.stdout.readline() == "watching\n"  # the worker shares the launcher's stdout
    try:
        os.killpg(launcher.pid, signal.SIGKILL)  # the launcher's group: the worker is not in it
        launcher.wait()
        assert stopped_within(worker, seconds=10)  # a second or so after its launcher, not after 60 s
    finally:
        if worker.is_running():
            worker.kill()


def stopped_within(process: psutil.Process, seconds: float) -> bool:
    """Whether ``process`` ends (or is a zombie: ended, not yet reaped by its new parent) in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_torchrun_workers_stop_when_the_launchers_group_is_killed(tmp_path):
    losses = tmp_path / "losses.jsonl"
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"),
        *("--max-restarts=0", str(ROOT / "scripts" / "train.py"), *TWO_DEVICE_RUN, "trainer=ddp"),
    ]
    env = script_env(tmp_path, **{LOSSES_FILE: str(losses), PAUSE_AT_STEP: "2"})
    launcher = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(Path(f"{losses}{PAUSED_MARKER}"), launcher, timeout=120)
        workers = psutil.Process(launcher.pid).children(recursive=True)
        assert len(workers) >= 2
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)  # what `kill -9 -- -<pgid>` does: workers are elsewhere
        launcher.wait()
    alive = [worker for worker in workers if not stopped_within(worker, seconds=20)]
    for process in alive:
        process.kill()
    assert alive == []


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    """SIGTERM to rank 1 alone (no launcher passes it on): the ranks agree on the stop after
    the step, save one last.ckpt together and both exit, instead of one of them waiting in a
    collective the other never joins."""
    losses = tmp_path / "losses.jsonl"
    env = script_env(tmp_path, **{LOSSES_FILE: str(losses), PAUSE_AT_STEP: "3", PAUSE_RANK: "1"})
    run = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            *TWO_DEVICE_RUN,
            "trainer=ddp",
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    marker = Path(f"{losses}{PAUSED_MARKER}")
    try:
        wait_for(marker, run, timeout=120)
        time.sleep(0.2)  # the marker is created, then its pid written
        os.kill(int(marker.read_text()), signal.SIGTERM)  # rank 1, Lightning's launched process
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 1, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors and all(" at step 4; saved " in line for line in errors), stderr[
        -3000:
    ]  # no hang, no crash
    assert any("stopped by a stop signal to another rank at step 4" in line for line in errors)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 4
