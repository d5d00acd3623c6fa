"""Exact resume on several devices: two gloo processes killed with SIGKILL mid-epoch continue
with the losses of an uninterrupted run, and a checkpoint moves between 2 and 1 devices, also
at a point that is not a whole step of the new device count, with every window of the epoch
trained exactly once, at the step an uninterrupted pass over its order would take it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch

from gpt_experiments.data.samplers import ResumableRandomSampler
from gpt_experiments.data.windowed_data import WindowedData
from tests.helpers import ROOT, TINY_RUN, run_script, script_env
from tests.helpers.step_losses import (
    LOSSES_FILE,
    PAUSE_AT_STEP,
    PAUSED_MARKER,
    read_records,
    read_step_losses,
    row_ids,
)
from tests.training.test_resume import wait_for

# One test worker runs this file's tests, so the uninterrupted reference run is trained once.
pytestmark = pytest.mark.xdist_group("two_process_reference")

SEED = 123  # conf/train.yaml
WINDOWS = 144  # "The Verdict" in 32-token windows: 36 steps per epoch on 2 devices (batch 2 each)
#  and 72 on one. Dropout on, so each rank's RNG must be restored too.
TWO_DEVICE_RUN = [
    *TINY_RUN,
    "model.drop_rate=0.1",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.limit_val_batches=2",
    "data.eval_train_batches=1",
    "~logger",
    "callbacks.last_checkpoint.every_n_train_steps=5",
    "+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder",
]
KILL_AFTER_STEP = 10  # epoch 0, 40 of its 144 windows done
ODD_STOP = 25  # one device, batch 2: 50 windows done, not a multiple of the 4 a step takes on two
ONE_DEVICE_UNTIL_STEP = 30  # the 2 -> 1 leg is killed here, still in epoch 0, and 1 -> 2 takes over


def train(tmp_path: Path, losses: str, *overrides: str, trainer: str = "ddp") -> str:
    """A run to its end; returns its stderr."""
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / losses)})
    args = [*TWO_DEVICE_RUN, f"trainer={trainer}", *overrides]
    result = run_script("train.py", *args, cwd=tmp_path, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def start_paused(
    command: list[str], tmp_path: Path, losses: str, copies: int = 1, step: int = KILL_AFTER_STEP
) -> list[subprocess.Popen]:
    """Start ``command`` (``copies`` times) so that its training pauses after ``step``'s checkpoint."""
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / losses), PAUSE_AT_STEP: str(step)})
    return [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(copies)
    ]


def kill_when_paused(launchers: list[subprocess.Popen], tmp_path: Path, losses: str) -> None:
    """SIGKILL the launchers and every process they started, once training has paused."""
    try:
        for launcher in launchers:
            wait_for(Path(f"{tmp_path / losses}{PAUSED_MARKER}"), launcher)
    finally:
        for launcher in launchers:
            for process in [*psutil.Process(launcher.pid).children(recursive=True), launcher]:
                process.kill()
            launcher.wait()


def train_and_kill(tmp_path: Path, losses: str, *overrides: str, step: int = KILL_AFTER_STEP) -> Path:
    """A run SIGKILLed (launcher and workers) right after ``step``'s checkpoint."""
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), *TWO_DEVICE_RUN, "trainer=ddp", *overrides]
    kill_when_paused(start_paused(command, tmp_path, losses, step=step), tmp_path, losses)
    [run_dir] = [p.parent.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/checkpoints/last.ckpt")]
    return run_dir


def window_index(tmp_path: Path) -> dict[str, int]:
    """Row id -> index of the training window, for the run's data."""
    data = WindowedData(
        str(ROOT / "gpt_experiments" / "assets" / "the-verdict.txt"),
        max_length=32,
        stride=32,
        cache_dir=str(tmp_path / "cache"),
    )
    data.load_windows()
    ids = {row_ids(data.train_set[i][0][None])[0]: i for i in range(len(data.train_set))}
    assert len(ids) == len(data.train_set) == WINDOWS  # distinct windows: ids identify them
    return ids


def trained_windows(records: list[dict], ids: dict[str, int], epoch: int) -> list[int]:
    return [ids[row] for r in records if r["epoch"] == epoch for row in r["rows"]]


# Session scope: the worker may run other files' tests between this file's (slow tests are
# handed out first), and a module fixture would then be torn down and trained again.
@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory) -> Path:
    """Per-step losses of an uninterrupted two-process run, the reference for every resumed one."""
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    train(tmp_path, "full.jsonl")
    return tmp_path / "full.jsonl"


def joined_legs(killed: Path, resumed: Path, rank: int) -> dict[int, float]:
    """One rank's per-step losses of a run killed after KILL_AFTER_STEP and of its resumption."""
    before, after = read_step_losses(killed, rank), read_step_losses(resumed, rank)
    assert sorted(before) == list(range(1, KILL_AFTER_STEP + 1))
    assert sorted(after) == list(range(KILL_AFTER_STEP + 1, 73))
    return {**before, **after}


def assert_resumed_exactly(expected: Path, killed: Path, resumed: Path) -> None:
    for rank in (0, 1):
        assert joined_legs(killed, resumed, rank) == read_step_losses(expected, rank)  # exact, step by step


@pytest.mark.slow
def test_two_process_run_killed_mid_epoch_resumes_exactly_and_moves_between_device_counts(
    tmp_path, uninterrupted
):
    run_dir = train_and_kill(tmp_path, "killed.jsonl")
    moved = tmp_path / "moved_run"  # the same checkpoint, for the 2 -> 1 -> 2 legs
    shutil.copytree(run_dir, moved)

    train(tmp_path, "resumed.jsonl", "resume=auto")
    assert_resumed_exactly(uninterrupted, tmp_path / "killed.jsonl", tmp_path / "resumed.jsonl")

    train_and_kill(tmp_path, "one.jsonl", f"resume={moved}", "trainer.devices=1", step=ONE_DEVICE_UNTIL_STEP)
    # A resumed run takes its last leg's overrides: say 2 devices again.
    train(tmp_path, "two.jsonl", f"resume={moved}", "trainer.devices=2")
    ids = window_index(tmp_path)
    legs = [read_records(tmp_path / f) for f in ("killed.jsonl", "one.jsonl", "two.jsonl")]
    legs[0] = [r for r in legs[0] if r["step"] <= KILL_AFTER_STEP]
    legs[1] = [r for r in legs[1] if r["step"] <= ONE_DEVICE_UNTIL_STEP]
    assert {r["rank"] for r in legs[1]} == {0} and {r["rank"] for r in legs[2]} == {0, 1}
    # Epoch 0's order, consumed from the front: 2 x 2 x 10 windows, then 1 x 2 x 20 on one
    # device, then 2 x 2 x 16 on two again; each window exactly once.
    order = ResumableRandomSampler(WINDOWS, SEED).permutation(0).tolist()
    ends = [0, 40, 80, WINDOWS]
    for leg, start, end in zip(legs, ends, ends[1:], strict=False):
        trained = trained_windows(leg, ids, epoch=0)
        assert len(trained) == len(set(trained)) == end - start
        assert set(trained) == set(order[start:end])
    # The next epoch, all on two devices, is a whole one.
    epoch1 = trained_windows(legs[2], ids, epoch=1)
    assert sorted(epoch1) == list(range(WINDOWS))


def windows_per_step(records: list[dict], ids: dict[str, int]) -> dict[int, set[int]]:
    """Step -> the windows all ranks trained on at it."""
    steps: dict[int, set[int]] = {}
    for record in records:
        steps.setdefault(record["step"], set()).update(ids[row] for row in record["rows"])
    return steps


@pytest.mark.slow
def test_one_device_run_stopped_at_an_odd_point_resumes_on_two_with_every_window_once(tmp_path):
    one_epoch = "trainer.max_epochs=1"
    train(tmp_path, "one.jsonl", one_epoch, "trainer.devices=1", f"trainer.max_steps={ODD_STOP}")
    [run_dir] = [p.parent.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/checkpoints/last.ckpt")]
    stderr = train(
        tmp_path, "two.jsonl", one_epoch, f"resume='{run_dir}'", "trainer.devices=2", "trainer.max_steps=-1"
    )
    assert "warning: epoch" not in stderr  # 94 windows left: two devices share them evenly

    # Each step takes the next windows of the epoch's order: 2 a step on one device, then 4 on
    # two, and a last, shorter step with the 2 left (one per device).
    ids, order = window_index(tmp_path), ResumableRandomSampler(WINDOWS, SEED).permutation(0).tolist()
    ends = [*range(2, 52, 2), *range(54, WINDOWS + 1, 4), WINDOWS]
    expected = {
        step: set(order[start:end])
        for step, (start, end) in enumerate(zip([0, *ends[:-1]], ends, strict=True), 1)
    }
    trained = windows_per_step(read_records(tmp_path / "one.jsonl"), ids)
    trained.update(windows_per_step(read_records(tmp_path / "two.jsonl"), ids))
    assert trained == expected
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(last["state_dict"]["tokens_seen"]) == WINDOWS * 32  # 4,608: the whole epoch


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_nodes(run_dir: str, *overrides: str) -> list[str]:
    """torchrun for one of two "nodes" of one CPU process, meeting through a c10d rendezvous on 127.0.0.1."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{free_port()}",
        "--rdzv-id=two_nodes",
        "--local-addr=127.0.0.1",
        "--max-restarts=0",
        str(ROOT / "scripts" / "train.py"),
        *TWO_DEVICE_RUN,
        "trainer=multinode",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        f"hydra.run.dir={run_dir}",  # the same folder for both nodes
        *overrides,
    ]


def train_on_two_nodes(tmp_path: Path, losses: str, command: list[str]) -> list[str]:
    """Both nodes' launchers to the end; returns their outputs."""
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / losses)})
    launchers = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        outputs = [launcher.communicate(timeout=240)[0] for launcher in launchers]
    finally:
        for launcher in launchers:  # a failed rendezvous must not leave them waiting
            launcher.kill()
    assert [launcher.returncode for launcher in launchers] == [0, 0]
    return outputs


@pytest.mark.slow
def test_two_nodes_under_torchrun_are_killed_and_resume_on_the_uninterrupted_curve(tmp_path, uninterrupted):
    run_dir = "outputs/runs/two_nodes"
    kill_when_paused(
        start_paused(two_nodes(run_dir), tmp_path, "killed.jsonl", copies=2), tmp_path, "killed.jsonl"
    )
    outputs = train_on_two_nodes(tmp_path, "resumed.jsonl", two_nodes(run_dir, "resume=auto"))
    assert all(f"Resuming from {run_dir}/checkpoints/last.ckpt" in out for out in outputs)
    # The same two ranks as one node of two processes, step by step before and after the kill;
    # gloo reduces in another order across "hosts", so the losses agree up to float rounding
    # (a resume that lost its place in the data or its RNG state would be off by far more).
    for rank in (0, 1):
        nodes = joined_legs(tmp_path / "killed.jsonl", tmp_path / "resumed.jsonl", rank)
        ddp = read_step_losses(uninterrupted, rank)
        assert list(nodes.values()) == pytest.approx([ddp[step] for step in nodes], rel=1e-5)


@pytest.mark.slow
def test_fsdp2_losses_equal_ddp_losses(tmp_path, uninterrupted):
    train(tmp_path, "fsdp2.jsonl", "trainer.precision=32-true", "trainer.max_steps=6", trainer="fsdp2")
    for rank in (0, 1):
        fsdp2, ddp = read_step_losses(tmp_path / "fsdp2.jsonl", rank), read_step_losses(uninterrupted, rank)
        assert sorted(fsdp2) == list(range(1, 7))
        # Sharded all-gathers and reduce-scatters sum in another order: equal up to float rounding.
        assert [fsdp2[s] for s in fsdp2] == pytest.approx([ddp[s] for s in fsdp2], rel=1e-5)
