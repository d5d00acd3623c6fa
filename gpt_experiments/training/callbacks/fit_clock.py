"""A run's training time over all its legs, kept in its checkpoints."""

from __future__ import annotations

import time
from typing import Any

import lightning as L


class FitClock(L.Callback):
    """Seconds spent in ``Trainer.fit``, this leg and the legs before it.

    Each checkpoint stores the total so far, so a run resumed from it (even one killed without
    a summary) counts the time that led to it; time after its last checkpoint was lost with
    the work it did. ``earlier_s``: the total to start from where the checkpoint has none
    (one saved before this callback existed).
    """

    def __init__(self, earlier_s: float = 0.0) -> None:
        self.earlier_s = earlier_s
        self._started: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()

    def elapsed_s(self) -> float:
        leg = 0.0 if self._started is None else time.monotonic() - self._started
        return self.earlier_s + leg

    def state_dict(self) -> dict[str, Any]:
        return {"wall_time_s": self.elapsed_s()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.earlier_s = float(state_dict["wall_time_s"])
