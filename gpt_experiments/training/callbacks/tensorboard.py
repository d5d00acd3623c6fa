"""The run's TensorBoard logger, and finding it for callbacks that write more than scalars."""

from __future__ import annotations

import json
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments.training.trackers import RunLogger

PROVENANCE_TEXT_TAG = "provenance"


class RunTensorBoardLogger(RunLogger, TensorBoardLogger):
    """Lightning's TensorBoard logger as every run tracker (:class:`RunLogger`): scalars at the
    optimizer steps done, no ``epoch`` scalar. The settings go to the HParams tab (written by
    ``HParamsSession``, which also saves them as hparams.yaml), the provenance to the Text tab."""

    def log_settings(self, params: dict[str, Any], swept: list[str]) -> None:
        self.hparams.update(params)  # saved as hparams.yaml beside the event files

    @rank_zero_only
    def log_provenance(self, record: dict[str, Any]) -> None:
        # Indented: a Markdown code block, so the JSON keeps its layout in the Text tab.
        text = "    " + json.dumps(record, indent=2, default=str).replace("\n", "\n    ")
        # At the step the run (or its resume) starts from: once per run, once more per resume.
        step = self._trainer.global_step if self._trainer is not None else 0
        self.experiment.add_text(PROVENANCE_TEXT_TAG, text, step)
        self.experiment.flush()


def tensorboard_logger(trainer: L.Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
