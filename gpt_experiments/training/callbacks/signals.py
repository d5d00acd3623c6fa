"""Ctrl-C or SIGTERM: finish the current step, save ``last.ckpt``, and stop with a resume hint.

A process that started others for more devices (Lightning's launcher) passes the signal on to
them; a process started by a launcher (torchrun's agent, Lightning's rank 0) stops when that
launcher is gone, since torchrun starts its workers in sessions of their own, out of reach of
a signal to the launcher's process group.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

import lightning as L

from gpt_experiments import library_internals as internals
from gpt_experiments.config import typed_override
from gpt_experiments.errors import UserError
from gpt_experiments.training.run_lock import is_first_process

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(UserError):
    """The user (or a scheduler) stopped the run; its state was saved for ``resume=``."""


class SaveAndStopOnSignal(L.Callback):
    """Turns a stop signal into a checkpoint written at the end of the running step.

    Saving mid-step (where ``KeyboardInterrupt`` would land) could catch the optimizer
    half-way through an update; at a batch's end the state is the same one periodic
    checkpoints hold, so the resumed run continues exactly. A second Ctrl-C aborts at once.

    The handlers go in at ``on_fit_start``, before Lightning saves the handlers it restores
    at its teardown, so they also cover that teardown (the optimizer state moving back to
    the CPU, loggers closing), where a second Ctrl-C would otherwise raise
    ``KeyboardInterrupt`` into cleanup code. Whoever runs the fit calls :meth:`release`
    when it is over.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.received: str | None = None
        self._previous_handlers: dict[int, object] = {}
        self._trainer: L.Trainer | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trainer = trainer
        # Handlers can only be installed from the main thread (not in e.g. notebook workers).
        if threading.current_thread() is threading.main_thread():
            self._previous_handlers = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        if started_by_launcher():
            stop_when_orphaned(os.getppid())

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After on_fit_start Lightning puts in its own SIGTERM handler, calling ours after it.
        # Its handler broadcasts from inside the signal handler: a rank that is in another
        # collective when the signal lands (a signal to one rank only) dies in gloo or NCCL.
        # Ours alone, then; the ranks agree on the stop at the end of the step (stop_now).
        if self._previous_handlers:
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            abort_on_signal(signum, frame)
        if self._trainer is not None:
            forward_to_launched(self._trainer, signum)
        self.received = signal.Signals(signum).name
        print(
            f"\n{self.received} received: saving after this step (press Ctrl-C again to abort)",
            file=sys.stderr,
        )

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if not self.stop_now(trainer):
            return
        path = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # the full state: resume continues exactly
        log_this_step(trainer)
        raise TrainingInterrupted(
            f"stopped by {self.received or 'a stop signal to another rank'} at step "
            f"{trainer.global_step}; saved {path}: continue with {typed_override('resume', self.run_dir)}"
        )

    def stop_now(self, trainer: L.Trainer) -> bool:
        """Whether any rank received a stop signal. The ranks agree on it after every step: a
        signal reaches each rank at its own moment (or one rank only), and a rank that saved
        and stopped while another went on into the next step's gradient all-reduce would leave
        both waiting on collectives that never match. One scalar all-reduce a step buys that."""
        if trainer.world_size == 1:
            return self.received is not None
        return trainer.strategy.reduce_boolean_decision(self.received is not None, all=False)

    def release(self) -> None:
        """Give the stop signals back once the fit is over (sweeps run many fits in one process).

        After a stop the process is on its way out, as after Lightning's own Ctrl-C handling:
        a further signal still aborts rather than raise into whatever runs next.
        """
        for sig, handler in self._previous_handlers.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, abort_on_signal if self.received else handler)
        self._previous_handlers = {}


def log_this_step(trainer: L.Trainer) -> None:
    """Send this step's ``train/*`` values to the loggers now: the exception that stops the run
    comes before Lightning's own logging of the step, which would otherwise be lost."""
    metrics = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith("train/") and value.numel() == 1
    }
    # The step number Lightning itself logs training values under (optimizer steps before this one).
    step = internals.steps_logged_by_lightning(trainer)
    for logger in trainer.loggers:
        logger.log_metrics({**metrics, "epoch": trainer.current_epoch}, step=step)
        logger.save()


def forward_to_launched(trainer: L.Trainer, signum: int) -> None:
    """Pass the signal on to the processes this one started for the other devices (Lightning's
    launcher), so every rank stops, not this one alone."""
    launcher = trainer.strategy.launcher
    if launcher is not None:
        launcher.kill(signum)


def started_by_launcher() -> bool:
    """Whether a launcher started this process: torchrun (any rank) or Lightning (ranks > 0)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or not is_first_process()


def stop_when_orphaned(launcher_pid: int, interval_s: float = 1.0) -> threading.Thread:
    """Watch, from a daemon thread, that ``launcher_pid`` is still this process's parent; when
    it is gone (killed with SIGKILL, which it cannot pass on), end at once, as the launcher
    did: the other ranks may be gone too, so no checkpoint is attempted (``resume=`` continues
    from the last one). SIGKILL, because a thread cannot hand a signal its default action."""

    def watch() -> None:
        while os.getppid() == launcher_pid != 1:  # adopted by init: the launcher died before the watch
            time.sleep(interval_s)
        print(f"\nthe launcher (process {launcher_pid}) is gone: stopping without saving", file=sys.stderr)
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    watcher = threading.Thread(target=watch, name="launcher-watch", daemon=True)
    watcher.start()
    return watcher


def abort_on_signal(signum: int, frame: FrameType | None = None) -> NoReturn:
    """Die of the signal itself: a ``KeyboardInterrupt`` raised in a handler can land in code
    that swallows it ("Exception ignored in ..."), and the run would go on."""
    print(f"\n{signal.Signals(signum).name} received again: aborting without saving", file=sys.stderr)
    die_of_signal(signum)


def die_of_signal(signum: int) -> NoReturn:
    """End the process by ``signum``'s default action, now, without cleanup."""
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    # The kernel may hand the signal to another thread (torch's) a moment after kill() returns:
    # wait for it rather than raise into code that could catch the exception.
    time.sleep(5)
    os._exit(128 + signum)  # only if the signal was blocked: still end without cleanup
