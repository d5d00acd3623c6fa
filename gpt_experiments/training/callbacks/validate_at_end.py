"""A budgeted run validates at its last step, so its final loss is the loss at its budget."""

from __future__ import annotations

import lightning as L


class ValidateAtLastStep(L.Callback):
    """Ask Lightning to stop at the last optimizer step: a requested stop runs a validation
    first, which a step budget (``max_tokens``, ``max_flops``) that ends between the trainer's
    validation intervals would otherwise skip."""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if 0 < trainer.max_steps <= trainer.global_step:
            trainer.should_stop = True
