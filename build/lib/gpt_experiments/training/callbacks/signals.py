"""Ctrl-C or SIGTERM: finish the current step, save ``last.ckpt``, and stop with a resume hint."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import lightning as L

from gpt_experiments.errors import UserError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(UserError):
    """The user (or a scheduler) stopped the run; its state was saved for ``resume=``."""


class SaveAndStopOnSignal(L.Callback):
    """Turns a stop signal into a checkpoint written at the end of the running step.

    Saving mid-step (where ``KeyboardInterrupt`` would land) could catch the optimizer
    half-way through an update; at a batch's end the state is the same one periodic
    checkpoints hold, so the resumed run continues exactly. A second Ctrl-C aborts at once.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.received: str | None = None
        self._previous_handlers: dict[int, object] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Handlers can only be installed from the main thread (not in e.g. notebook workers).
        if threading.current_thread() is threading.main_thread():
            self._previous_handlers = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        print(
            f"\n{self.received} received: saving after this step (press Ctrl-C again to abort)",
            file=sys.stderr,
        )

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if self.received is None:
            return
        path = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path)
        raise TrainingInterrupted(
            f"stopped by {self.received} at step {trainer.global_step}; saved {path}: "
            f"continue with resume={self.run_dir}"
        )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handlers()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        # Only while ours is still installed: the previous handler may be Lightning's own,
        # which it removes at teardown; putting it back afterwards would keep the whole
        # Trainer (and model) alive after the run, job after job in a sweep.
        for sig, handler in self._previous_handlers.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, handler)
        self._previous_handlers = {}
