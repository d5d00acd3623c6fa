"""A test-only callback: appends every training step's loss (and what it trained on) to a JSON-lines file.

Runs started as subprocesses add it with
``+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder``.
It is configured through environment variables, not config keys, so that an interrupted
run and its resumption have the same config (``resume=auto`` matches runs by config).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import lightning as L
import torch

from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal

LOSSES_FILE = "STEP_LOSSES_FILE"
PAUSE_AT_STEP = "STEP_LOSSES_PAUSE_AT_STEP"
PAUSE_IN_SAVE_AT_STEP = "STEP_LOSSES_PAUSE_IN_SAVE_AT_STEP"
PAUSE_RANK = "STEP_LOSSES_PAUSE_RANK"  # only this rank pauses (default: every rank)
PAUSED_MARKER = ".paused"


class StepLossRecorder(L.Callback):
    """Records ``{"step", "loss", "epoch", "rank", "rows"}`` per step and rank (``rows``: :func:`row_ids`
    of the batch's inputs); with ``PAUSE_AT_STEP`` set, waits before that step; with
    ``PAUSE_IN_SAVE_AT_STEP``, in the first checkpoint save of that step after its validation.

    The pause gives a test a fixed moment to signal the run: just after the checkpoint of
    that step was written, in the middle of an epoch (or in the middle of writing one).
    ``<losses file>.paused`` marks it and holds the pausing process's id; it ends when a stop
    signal (SIGTERM, Ctrl-C) has been received, or after 10 minutes.
    """

    def __init__(self) -> None:
        self.path = Path(os.environ[LOSSES_FILE])
        self.pause_at_step = int(os.environ.get(PAUSE_AT_STEP, -1))
        self.pause_in_save_at_step = int(os.environ.get(PAUSE_IN_SAVE_AT_STEP, -1))
        self.pause_rank = int(os.environ.get(PAUSE_RANK, -1))
        self.validated_at_step = -1

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step == self.pause_at_step and self.pause_rank in (-1, trainer.global_rank):
            self.pause(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validated_at_step = trainer.global_step

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint) -> None:
        # Called while the checkpoint is being built, before anything of it is written.
        if self.validated_at_step == trainer.global_step == self.pause_in_save_at_step:
            self.pause(trainer)

    def pause(self, trainer: L.Trainer) -> None:
        Path(f"{self.path}{PAUSED_MARKER}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not stop_requested(trainer):
            time.sleep(0.05)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        record = {
            "step": trainer.global_step,
            "loss": outputs["loss"].item(),
            "epoch": trainer.current_epoch,
            "rank": trainer.global_rank,
            "rows": row_ids(batch[0]),
        }
        with open(self.path, "a") as f:  # one short append per line: ranks may share the file
            f.write(json.dumps(record) + "\n")


def row_ids(inputs: torch.Tensor) -> list[str]:
    """A short content hash per window of a batch, to tell which windows were trained on."""
    return [hashlib.sha256(row.numpy().tobytes()).hexdigest()[:16] for row in inputs.to(torch.int64)]


def stop_requested(trainer: L.Trainer) -> bool:
    return any(isinstance(cb, SaveAndStopOnSignal) and cb.received for cb in trainer.callbacks)


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_step_losses(path: Path, rank: int = 0) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in read_records(path) if row.get("rank", 0) == rank}
