"""Stops a search trial early when its validation loss looks worse than the study's earlier trials.

The Optuna sweeper gives each job its trial number (``trial_number``); the job may run in
another process than the sweeper (joblib workers), so the trial is loaded from the study's
storage. Outside a search ``trial_number`` is null and the callback does nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments.runs.status import mark_pruned


class OptunaPruning(L.Callback):
    """After every validation, reports ``monitor`` to the trial; when the pruner says so, stops the run.

    A trial run over several seeds is judged by its first seed (see ``report_seed``). A pruned
    run stops as after its last epoch (checkpoints and history intact) and leaves a ``PRUNED``
    file in ``run_dir``, which the sweeper and compare_runs read.
    """

    def __init__(
        self,
        storage: str,
        study_name: str,
        run_dir: str,
        pruner: object,
        trial_number: int | None = None,
        seed: int = 0,
        monitor: str = "val/loss",
    ) -> None:
        self.storage = storage
        self.study_name = study_name
        self.run_dir = Path(run_dir)
        self.pruner = pruner
        self.trial_number = trial_number
        self.seed = seed
        self.monitor = monitor

    @rank_zero_only
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if self.trial_number is None or trainer.sanity_checking or value is None:
            return
        from gpt_experiments.search.storage import report_seed  # optuna only inside a search

        step, loss = trainer.global_step, float(value)
        if report_seed(self.storage, self.study_name, self.trial_number, self.pruner, self.seed, step, loss):
            shown = f"{loss:.4f}" if math.isfinite(loss) else str(loss)
            mark_pruned(
                self.run_dir, f"stopped at step {step}, {self.monitor} {shown}: worse than earlier trials"
            )
            trainer.should_stop = True
