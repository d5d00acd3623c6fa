"""A test-only callback: appends every training step's loss to a JSON-lines file.

Used by runs started as subprocesses (``+callbacks.step_losses._target_=tests.step_losses...``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L


class StepLossRecorder(L.Callback):
    """Records ``{"step", "loss"}`` per step; optionally hangs before step ``pause_at_step``.

    The pause gives a test a fixed moment to ``kill -9`` the run: just after the checkpoint
    of step ``pause_at_step`` was written, in the middle of an epoch.
    """

    def __init__(self, path: str, pause_at_step: int | None = None) -> None:
        self.path = Path(path)
        self.pause_at_step = pause_at_step

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step == self.pause_at_step:
            time.sleep(600)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": trainer.global_step, "loss": outputs["loss"].item()}) + "\n")


def read_step_losses(path: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in map(json.loads, path.read_text().splitlines())}
