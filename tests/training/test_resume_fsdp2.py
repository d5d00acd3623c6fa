"""Exact resume under FSDP2, in both checkpoint formats: a two-process run stopped by ``max_steps``
mid-epoch continues on two processes with the losses of an uninterrupted run, and on one
process (with the same global batch) within float rounding of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import TINY_RUN, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, read_step_losses

# One test worker runs this file's tests, so the uninterrupted reference run is trained once.
pytestmark = pytest.mark.xdist_group("fsdp2_reference")

STEPS_PER_EPOCH = 12  # of "The Verdict"'s 144 windows: 48 per epoch, 4 a step (2 ranks x batch 2)
STOP_AT_STEP = 15  # epoch 1, 12 of its 48 windows done: a periodic save (every 5 steps)
# No dropout: one process draws other masks than two, and the 2 -> 1 leg is compared per step.
FSDP2_RUN = [
    *TINY_RUN,
    "trainer=fsdp2",
    "trainer.precision=32-true",
    "trainer.accelerator=cpu",
    f"trainer.limit_train_batches={STEPS_PER_EPOCH}",
    "trainer.limit_val_batches=2",
    "data.eval_train_batches=0",
    "~logger",
    "callbacks.last_checkpoint.every_n_train_steps=5",
    "+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder",
]


def train(tmp_path: Path, losses: str, *overrides: str) -> None:
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / losses)})
    result = run_script("train.py", *FSDP2_RUN, *overrides, cwd=tmp_path, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


# Session scope: the worker may run other files' tests between this file's.
@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory) -> Path:
    """Per-step losses of an uninterrupted two-process FSDP2 run (the format does not change them)."""
    tmp_path = tmp_path_factory.mktemp("fsdp2_uninterrupted")
    train(tmp_path, "full.jsonl", "trainer.devices=2")
    return tmp_path / "full.jsonl"


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", ["sharded", "full"])
def test_fsdp2_run_stopped_mid_epoch_resumes_on_the_uninterrupted_curve(tmp_path, uninterrupted, checkpoint):
    fmt = f"trainer.strategy.checkpoint={checkpoint}"
    train(tmp_path, "stopped.jsonl", fmt, "trainer.devices=2", f"trainer.max_steps={STOP_AT_STEP}")
    [run_dir] = [p.parent.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/checkpoints/last.ckpt")]
    moved = tmp_path / "moved_run"  # the same checkpoint, resumed on one process
    shutil.copytree(run_dir, moved)

    train(tmp_path, "resumed.jsonl", fmt, "trainer.devices=2", "resume=auto", "trainer.max_steps=-1")
    last = 2 * STEPS_PER_EPOCH
    for rank in (0, 1):
        before = read_step_losses(tmp_path / "stopped.jsonl", rank)
        after = read_step_losses(tmp_path / "resumed.jsonl", rank)
        assert sorted(after) == list(range(STOP_AT_STEP + 1, last + 1))
        assert {**before, **after} == read_step_losses(uninterrupted, rank)  # exact, step by step

    # One process with twice the batch takes the same windows at each step as the two did;
    # its loss is the mean of theirs, up to float rounding (sums in another order, and
    # through Adam's updates after them). Its loader's workers start before FSDP loads the
    # checkpoint, and still draw the windows from the saved position.
    train(
        tmp_path,
        "one.jsonl",
        fmt,
        "trainer.devices=1",
        "data.batch_size=4",
        "data.num_workers=2",
        f"resume={moved}",
        "trainer.max_steps=-1",
    )
    one = read_step_losses(tmp_path / "one.jsonl")
    rank0, rank1 = (read_step_losses(uninterrupted, rank) for rank in (0, 1))
    assert sorted(one) == list(range(STOP_AT_STEP + 1, last + 1))
    expected = [(rank0[step] + rank1[step]) / 2 for step in one]
    assert list(one.values()) == pytest.approx(expected, rel=1e-5)
