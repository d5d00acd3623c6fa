"""How long torch.compile took, printed once per fit: the first step compiles, the second does not."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.utilities import rank_zero_only


def compile_seconds(first_step_s: float, second_step_s: float) -> float:
    """The compiling part of the first step: its time less that of a compiled step."""
    return max(0.0, first_step_s - second_step_s)


class CompileTimeReport(L.Callback):
    """Times the first two training steps of a fit and prints the compile time they imply.

    A resumed fit compiles again (from inductor's cache when it is warm), so it reports again.
    """

    def __init__(self) -> None:
        self.step_seconds: list[float] = []
        self._started = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if len(self.step_seconds) >= 2:
            return
        self.step_seconds.append(time.perf_counter() - self._started)
        if len(self.step_seconds) == 2:
            self.report(*self.step_seconds)

    @rank_zero_only
    def report(self, first_step_s: float, second_step_s: float) -> None:
        print(
            f"torch.compile: compiling took about {compile_seconds(first_step_s, second_step_s):.1f} s "
            f"(first step {first_step_s:.1f} s, second {second_step_s:.2f} s); "
            "inductor's cache (TORCHINDUCTOR_CACHE_DIR) makes the next run's start faster"
        )
