"""The run's TensorBoard logger, and finding it for callbacks that write more than scalars."""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only


class RunTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoard logger without the ``epoch`` scalar Lightning adds to every log.

    That chart (0-based, while the console counts epochs from 1) would come first in the
    Scalars tab; the run's epochs are in history.csv and its loss plots.
    """

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics({name: value for name, value in metrics.items() if name != "epoch"}, step)


def tensorboard_logger(trainer: L.Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
