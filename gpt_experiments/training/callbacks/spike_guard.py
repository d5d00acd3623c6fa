"""Skip the optimizer update of a step whose loss or gradient norm spikes (off by default).

A single bad batch can throw a long pretraining run off course for thousands of steps
(the loss spikes PaLM and OPT report). This guard compares each step's loss and global
gradient norm with a moving window of the last accepted steps: if either is more than
``z_threshold`` standard deviations above the window's mean, the gradients are dropped, so
the weights and the optimizer's moments do not move. The step still counts (the learning-
rate schedule goes on); the skip is logged as ``train/skipped_updates`` and printed.

A skipped step neither moves the weights nor enters the window, so a jump caused by the
weights themselves (not by one batch) would be skipped on every later batch: the run would
freeze. After ``max_consecutive_skips`` skips in a row the guard therefore accepts the update
and starts its window afresh from that step. Stopping the run instead would end a long
unattended run for what is usually a level shift (a new phase of the loss curve, a larger
gradient norm as the model learns), which the window, rebuilt, then tracks. A non-finite loss
or gradient norm is never accepted: at the cap the run stops with one line instead.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from gpt_experiments.errors import UserError

WATCHED = ("loss", "grad_norm")


class FrozenBySpikesError(UserError):
    """The guard skipped its cap of updates in a row, and the last one was not even finite."""


class MovingZScore:
    """How many standard deviations a value lies above the mean of the last ``window`` accepted values."""

    def __init__(self, window: int) -> None:
        self.values: deque[float] = deque(maxlen=window)

    def z(self, value: float) -> float:
        mean = sum(self.values) / len(self.values)
        std = math.sqrt(sum((v - mean) ** 2 for v in self.values) / len(self.values))
        # A floor on the deviation: a flat window must not make a tiny wobble a spike.
        floor = 1e-6 * (1.0 + abs(mean))
        return (value - mean) / max(std, floor) if math.isfinite(value) else math.inf


class SkipSpikes(L.Callback):
    """Drops the gradients of a step whose loss or gradient norm is an outlier.

    Args:
        enabled: off by default; ``callbacks.spike_guard.enabled=true`` turns it on.
        z_threshold: how many standard deviations above the window's mean count as a spike.
        window: how many of the last accepted steps the mean and deviation are taken over.
        min_history: accepted steps needed before any step can be judged (the start of a run,
            when the loss falls fast, is not a stable baseline).
        watch: ``loss``, ``grad_norm`` or both.
        max_consecutive_skips: after this many skipped updates in a row, the next judged a
            spike is applied and the window restarts from it (see the module's notes).
    """

    def __init__(
        self,
        enabled: bool = False,
        z_threshold: float = 6.0,
        window: int = 100,
        min_history: int = 20,
        watch: tuple[str, ...] | list[str] = WATCHED,
        max_consecutive_skips: int = 10,
    ) -> None:
        unknown = set(watch) - set(WATCHED)
        if unknown or not watch:
            raise ValueError(f"watch={list(watch)}: choose from {list(WATCHED)}")
        if max_consecutive_skips < 1:
            raise ValueError(f"max_consecutive_skips={max_consecutive_skips}: it must be at least 1")
        self.enabled = enabled
        self.z_threshold = z_threshold
        self.min_history = min_history
        self.watch = tuple(watch)
        self.history = {name: MovingZScore(window) for name in self.watch}
        self.max_consecutive_skips = max_consecutive_skips
        self.skipped = 0
        self.consecutive = 0  # skipped updates since the last applied one
        self._loss: torch.Tensor | None = None

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        self._loss = loss.detach()

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self.enabled:
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        measured = {
            # The mean over ranks, so every rank takes the same decision (gradients are already averaged).
            "loss": float(trainer.strategy.reduce(self._loss, reduce_op="mean")),
            "grad_norm": float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0,
        }
        scores = {name: self._score(name, measured[name]) for name in self.watch}
        spikes = {name: z for name, z in scores.items() if z > self.z_threshold}
        said = ", ".join(f"{name} {measured[name]:.4g} ({z:.1f} sigma)" for name, z in spikes.items())
        if spikes and self.consecutive >= self.max_consecutive_skips:
            self._accept_at_cap(trainer.global_step, measured, said)
        elif spikes:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    param.grad = None  # optimizers skip parameters without a gradient
            self.skipped += 1
            self.consecutive += 1
            rank_zero_warn(f"step {trainer.global_step}: skipped the update, {said} above the recent mean")
        else:
            self._accept(measured)
        pl_module.log("train/skipped_updates", float(self.skipped), rank_zero_only=True)

    def _accept(self, measured: dict[str, float]) -> None:
        self.consecutive = 0
        for name in self.watch:
            self.history[name].values.append(measured[name])

    def _accept_at_cap(self, step: int, measured: dict[str, float], said: str) -> None:
        """Apply the update after the cap of skips in a row, and judge later steps by a new window."""
        if not all(math.isfinite(measured[name]) for name in self.watch):
            raise FrozenBySpikesError(
                f"step {step}: the spike guard skipped {self.consecutive} updates in a row and this "
                f"one is not finite either ({said}): lower optimizer.lr, add gradient clipping "
                "(trainer.gradient_clip_val=1.0), or resume from an earlier checkpoint"
            )
        rank_zero_warn(
            f"step {step}: applied the update after {self.consecutive} skipped in a row ({said}): "
            "so many are a shift, not one bad batch; the spike window starts again from this step"
        )
        for history in self.history.values():
            history.values.clear()
        self._accept(measured)

    def _score(self, name: str, value: float) -> float:
        history = self.history[name]
        return history.z(value) if len(history.values) >= self.min_history else -math.inf

    def state_dict(self) -> dict[str, Any]:
        # Saved, so a resumed run judges its next steps against the same window.
        history = {n: list(h.values) for n, h in self.history.items()}
        return {"skipped": self.skipped, "consecutive": self.consecutive, "history": history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = state_dict["skipped"]
        self.consecutive = state_dict["consecutive"]
        for name, values in state_dict["history"].items():
            if name in self.history:
                self.history[name].values.extend(values)
