"""The run's TensorBoard logger, and finding it for callbacks that write more than scalars."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only


class RunTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoard logger, with every scalar at the optimizer steps done, and without
    the ``epoch`` scalar Lightning adds to every log.

    Lightning logs a step's values, and the validation after it, under the steps done *before*
    that step (3 after the 4th), while history.csv, checkpoint names, the images and the text
    samples carry the steps done (4). Once it follows the run's trainer (``LogEveryEpoch`` sees to
    it), this logger uses ``trainer.global_step`` too: one moment, one step, in every artefact.
    The ``epoch`` chart (0-based, while the console counts epochs from 1) would come first in the
    Scalars tab; the run's epochs are in history.csv and its loss plots.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer: L.Trainer | None = None

    def follow(self, trainer: L.Trainer) -> None:
        self._trainer = trainer

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_trainer": None}  # a copied logger follows its own trainer

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._trainer is not None:
            step = self._trainer.global_step
        super().log_metrics({name: value for name, value in metrics.items() if name != "epoch"}, step)


def tensorboard_logger(trainer: L.Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
