"""Hands the resumed epoch's batch count to the datamodule once Lightning has restored its loops."""

from __future__ import annotations

import lightning as L

from gpt_experiments.data.datamodule import GPTDataModule


class ResumedEpochProgress(L.Callback):
    """Calls :meth:`GPTDataModule.count_resumed_batches` at the start of training.

    The datamodule cannot do it itself: Lightning builds the training loader (while setting
    up the optimizer's schedule) before it restores the loops' batch counts from the
    checkpoint, and a datamodule has no hook after that.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if isinstance(datamodule, GPTDataModule):
            datamodule.count_resumed_batches()
