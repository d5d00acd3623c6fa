"""A test-only callback: appends every training step's loss to a JSON-lines file.

Runs started as subprocesses add it with
``+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder``.
It is configured through environment variables, not config keys, so that an interrupted
run and its resumption have the same config (``resume=auto`` matches runs by config).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import lightning as L

from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal

LOSSES_FILE = "STEP_LOSSES_FILE"
PAUSE_AT_STEP = "STEP_LOSSES_PAUSE_AT_STEP"
PAUSED_MARKER = ".paused"


class StepLossRecorder(L.Callback):
    """Records ``{"step", "loss"}`` per step; with ``PAUSE_AT_STEP`` set, waits before that step.

    The pause gives a test a fixed moment to signal the run: just after the checkpoint of
    that step was written, in the middle of an epoch. ``<losses file>.paused`` marks it; it
    ends when a stop signal (SIGTERM, Ctrl-C) has been received, or after 10 minutes.
    """

    def __init__(self) -> None:
        self.path = Path(os.environ[LOSSES_FILE])
        self.pause_at_step = int(os.environ.get(PAUSE_AT_STEP, -1))

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step == self.pause_at_step:
            Path(f"{self.path}{PAUSED_MARKER}").touch()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not stop_requested(trainer):
                time.sleep(0.05)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": trainer.global_step, "loss": outputs["loss"].item()}) + "\n")


def stop_requested(trainer: L.Trainer) -> bool:
    return any(isinstance(cb, SaveAndStopOnSignal) and cb.received for cb in trainer.callbacks)


def read_step_losses(path: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in map(json.loads, path.read_text().splitlines())}
