"""Stop a run whose loss became NaN or infinite, before the bad step touches the weights."""

from __future__ import annotations

import lightning as L
import torch

from gpt_experiments.errors import UserError


class NonFiniteLossError(UserError):
    """Training diverged; the message names the step and the usual causes."""


class StopOnNonFiniteLoss(L.Callback):
    """Checks the loss before the backward pass, so weights, optimizer and checkpoints stay good.

    Raising here skips this step's update and every later checkpoint save, so ``last.ckpt``
    keeps the last finite state.
    """

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if torch.isfinite(loss).all():
            return
        paths = [getattr(cb, "last_model_path", "") for cb in trainer.checkpoint_callbacks]
        last = next((path for path in paths if path), None)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"the training loss is {loss.item()} at step {trainer.global_step}: lower optimizer.lr, add "
            "warmup (scheduler=warmup_cosine) or gradient clipping (trainer.gradient_clip_val=1.0), or "
            f"train in full precision (trainer.precision=32-true); {kept}"
        )
