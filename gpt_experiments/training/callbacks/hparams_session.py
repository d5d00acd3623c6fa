"""Writes the run's HParams (settings and declared metrics) into its TensorBoard logs, and the
same settings to every other tracker of the run."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments import library_internals as internals
from gpt_experiments.training.callbacks.tensorboard import tensorboard_logger
from gpt_experiments.training.hparams import hparams_summaries, session_end_summary
from gpt_experiments.training.trackers import RunLogger


class HParamsSession(L.Callback):
    """The HParams plugin's session: its start (settings, metric names) when the fit starts,
    its end (success or failure) before Lightning closes the logs. No scalar is written: the
    metrics are the ``run/*`` scalars the run logs as it goes, so no NaN placeholder point.
    ``name``: the session group; runs that share it are one row of the HParams table."""

    def __init__(self, params: dict[str, Any], differing: list[str], name: str) -> None:
        self.params = params
        self.differing = differing
        self.name = name

    def _write(self, trainer: L.Trainer, summaries: list) -> None:
        tensorboard = tensorboard_logger(trainer)
        if tensorboard is None:
            return
        writer = internals.tensorboard_file_writer(tensorboard)  # where Lightning's log_hyperparams writes
        for summary in summaries:
            writer.add_summary(summary)
        tensorboard.experiment.flush()

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, RunLogger):
                logger.log_settings(self.params, self.differing)
        self._write(trainer, hparams_summaries(self.params, self.differing, self.name))

    @rank_zero_only
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, [session_end_summary(succeeded=True)])

    @rank_zero_only
    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._write(trainer, [session_end_summary(succeeded=False)])
