"""The console while training: a progress bar with 1-based epochs and the whole run's
remaining time, and a model summary without Lightning's FLOPs column (0 for this model)."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelSummary, RichProgressBar
from lightning.pytorch.utilities.model_summary import get_human_readable_count


def remaining_seconds(elapsed_s: float, steps_done: int, steps_total: float) -> float:
    """Time left at the average pace so far; NaN before the first step or without an end."""
    if steps_done <= 0 or math.isinf(steps_total):
        return math.nan
    return elapsed_s / steps_done * max(0.0, steps_total - steps_done)


class RunProgressBar(RichProgressBar):
    """Lightning's rich bar, with ``Epoch 1/2`` for the first of two epochs (as the text samples
    count them) and ``run ETA``: the whole run's remaining time, validation included."""

    def __init__(self) -> None:
        super().__init__()
        self._start_time = 0.0
        self._start_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._start_time = time.monotonic()
        self._start_step = trainer.global_step

    def _get_train_description(self, current_epoch: int) -> str:
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        return f"{description:{len(self.validation_description)}}"

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        left = remaining_seconds(
            time.monotonic() - self._start_time,
            trainer.global_step - self._start_step,
            trainer.estimated_stepping_batches - self._start_step,
        )
        if not math.isnan(left):
            metrics["run ETA"] = str(timedelta(seconds=round(left)))
        return metrics


class CompactModelSummary(ModelSummary):
    """One line: parameters and size (the table and its zero FLOPs count tell a user nothing)."""

    @staticmethod
    def summarize(
        summary_data: list,
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int = 0,
        **summarize_kwargs: Any,
    ) -> None:
        print(
            f"Model: {get_human_readable_count(total_parameters)} parameters "
            f"({get_human_readable_count(trainable_parameters)} trainable), {model_size:,.1f} MB"
        )
