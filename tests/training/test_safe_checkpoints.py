"""Checkpoints: atomic writes, fallback past a corrupt file, RNG and data position, stops that save."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gpt_experiments.checkpoints.lightning_io import AtomicCheckpointIO
from gpt_experiments.config import register_resolvers
from gpt_experiments.data.samplers import ResumableRandomSampler
from gpt_experiments.training.callbacks.rng_state import capture_rng_state, restore_rng_state
from gpt_experiments.training.compose import compose_config
from gpt_experiments.training.resume import find_run_to_resume, newest_loadable_checkpoint
from tests.helpers import ROOT, TINY_RUN, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, PAUSE_AT_STEP, PAUSED_MARKER
from tests.training.test_resume import wait_for


class CrashWhileSaving:
    """Stands in for a process killed half-way through writing a checkpoint."""

    def __reduce__(self):
        raise RuntimeError("simulated crash")


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"weights": torch.arange(1000.0)}, path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="simulated crash"):
        io.save_checkpoint({"weights": torch.zeros(1000), "crash": CrashWhileSaving()}, path)
    assert path.read_bytes() == before
    assert torch.equal(io.load_checkpoint(path)["weights"], torch.arange(1000.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left


# The two ways torch.save reports a full disk: its zip writer's own error, or the file
# object's OSError, hidden by the error of closing the unfinished archive.
WRITER_FAILURE = (
    "[enforce fail at inline_container.cc:659] . PytorchStreamWriter failed writing file data/0: "
    "file write failed"
)


def writer_fails(obj, f):
    raise RuntimeError(WRITER_FAILURE)


def file_fails_then_archive(obj, f):
    try:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    finally:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 23232 vs 23124")


@pytest.mark.parametrize("failing_save", [writer_fails, file_fails_then_archive])
def test_a_full_disk_is_an_os_error_naming_the_checkpoint_and_keeps_the_previous_one(
    tmp_path, monkeypatch, failing_save
):
    path = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint_io = AtomicCheckpointIO()
    checkpoint_io.save_checkpoint({"weights": torch.arange(1000.0)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", failing_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(100, 100, 0))
    with pytest.raises(OSError) as err:
        checkpoint_io.save_checkpoint({"weights": torch.zeros(1000)}, path)
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC, str(path))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_resume_falls_back_past_a_truncated_checkpoint_with_a_warning(tmp_path, capsys):
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save({"global_step": 5}, checkpoints / "best-step000005.ckpt")
    torch.save({"global_step": 9}, checkpoints / "last.ckpt")
    (checkpoints / "last.ckpt").write_bytes((checkpoints / "last.ckpt").read_bytes()[:200])
    os.utime(checkpoints / "best-step000005.ckpt", (1, 1))  # older than last.ckpt
    assert newest_loadable_checkpoint(tmp_path / "run") == checkpoints / "best-step000005.ckpt"
    warning = capsys.readouterr().err.strip()
    assert warning == (
        f"warning: {checkpoints / 'last.ckpt'} is not a readable checkpoint (RuntimeError): the file is "
        "truncated, corrupt or of another format; falling back to an older checkpoint"
    )


def save_run(log_dir: Path, name: str, overrides: list[str]) -> Path:
    """A run folder as Hydra leaves it (config without the hydra node) with one checkpoint."""
    cfg = compose_config(ROOT / "conf", "train", overrides)
    run = log_dir / "runs" / name
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save({k: v for k, v in cfg.items() if k != "hydra"}, run / ".hydra" / "config.yaml")
    (run / "checkpoints").mkdir()
    torch.save({"global_step": 1}, run / "checkpoints" / "last.ckpt")
    return run


def test_resume_auto_picks_the_newest_run_of_the_same_config(tmp_path):
    register_resolvers()
    older = save_run(tmp_path, "a", ["model=tiny", "trainer.max_epochs=2"])
    save_run(tmp_path, "b", ["model=tiny", "optimizer.lr=1e-3"])  # another config: never picked
    os.utime(older / "checkpoints" / "last.ckpt", (1, 1))
    newer = save_run(tmp_path, "c", ["model=tiny", "trainer.max_epochs=3"])
    os.utime(tmp_path / "runs" / "b" / "checkpoints" / "last.ckpt")  # the newest file of all

    # More epochs than before is the same run continued; another learning rate is not.
    cfg = compose_config(ROOT / "conf", "train", ["model=tiny", "trainer.max_epochs=10"])
    assert find_run_to_resume(tmp_path, cfg).run_dir == newer
    other = compose_config(ROOT / "conf", "train", ["model=tiny", "optimizer.lr=5e-4"])
    assert find_run_to_resume(tmp_path, other) is None


def test_sampler_order_depends_on_seed_and_epoch_only_and_resumes_part_way():
    sampler = ResumableRandomSampler(20, seed=7)
    sampler.set_epoch(3)
    full = list(sampler)
    assert sorted(full) == list(range(20)) and full == list(ResumableRandomSampler(20, seed=7).permutation(3))
    assert full != list(sampler.permutation(4))
    sampler.resume_at(epoch=3, windows_done=6)
    assert list(sampler) == full[6:]
    assert list(sampler) == full  # the skip applies once, to the interrupted epoch


def test_rng_states_survive_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(1)
    torch.save(capture_rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3))
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])


@pytest.mark.slow
def test_nan_loss_stops_the_run_and_keeps_the_last_finite_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py",
        *TINY_RUN,
        "optimizer.lr=1e30",  # one update makes the attention logits overflow
        "trainer.limit_train_batches=8",
        "callbacks.last_checkpoint.every_n_train_steps=1",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the training loss is nan at step 1: lower optimizer.lr, add warmup (scheduler=warmup_cosine) "
        "or gradient clipping (trainer.gradient_clip_val=1.0), or train in full precision "
        f"(trainer.precision=32-true); the last good checkpoint is {last}"
    )
    assert "Traceback" not in result.stderr
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 1
    weights = [w for name, w in checkpoint["state_dict"].items() if name.startswith("model.")]
    assert weights and all(torch.isfinite(w).all() for w in weights)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_saves_at_the_end_of_the_step_and_says_how_to_resume(tmp_path, stop_signal):
    run_dir = tmp_path / "run"
    losses = tmp_path / "losses.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            *TINY_RUN,
            "+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        env=script_env(tmp_path, **{LOSSES_FILE: str(losses), PAUSE_AT_STEP: "3"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(Path(f"{losses}{PAUSED_MARKER}"), process)
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1
    last = run_dir / "checkpoints" / "last.ckpt"
    assert stderr.strip().splitlines()[-1] == (
        f"error: stopped by {stop_signal.name} at step 4; saved {last}: continue with resume={run_dir}"
    )
    assert torch.load(last, weights_only=True)["global_step"] == 4
