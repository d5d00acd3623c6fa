"""At least one point of the training curves per epoch, however short the epoch, at the step
history.csv and the checkpoints use."""

from __future__ import annotations

import math

import lightning as L

from gpt_experiments.training.trackers import RunLogger


def epoch_logging_interval(configured: int, batches_per_epoch: float, accumulate: int) -> int:
    """``log_every_n_steps`` lowered to the optimizer steps in one epoch when an epoch is shorter.

    Any ``n`` consecutive steps hold a multiple of ``n``, so every epoch then logs at least once.
    """
    if configured <= 0 or math.isinf(batches_per_epoch):
        return configured
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / accumulate))
    return min(configured, steps_per_epoch)


class LogEveryEpoch(L.Callback):
    """Lowers the trainer's logging interval when an epoch has fewer steps than it.

    With ``trainer.log_every_n_steps=10`` and 4 steps an epoch (``debug=limit``), Lightning
    would log no ``train/loss``, ``train/lr`` or ``perf/*`` at all; here it logs every 4 steps.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for logger in trainer.loggers:  # scalars at the optimizer steps done, as everything else
            if isinstance(logger, RunLogger):
                logger.follow(trainer)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.log_every_n_steps = epoch_logging_interval(
            trainer.log_every_n_steps, trainer.num_training_batches, trainer.accumulate_grad_batches
        )
