"""Each private internal of Lightning, Optuna and Hydra that the project relies on
(gpt_experiments/library_internals.py), read on real objects: an upgrade that moves one fails
here, naming it, instead of in the middle of a run."""

from __future__ import annotations

import importlib

import lightning as L
import optuna
import pytest
import torch
from hydra.core.utils import JobReturn, JobStatus
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments import library_internals as internals


@pytest.fixture(scope="module")
def trainer() -> L.Trainer:
    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=3)


def test_lightnings_loop_counters_are_where_the_project_reads_them(trainer):
    assert internals.batch_progress(trainer).processed == 0
    assert internals.batch_progress(trainer).ready == 0
    assert internals.epoch_progress(trainer).processed == 0
    assert internals.batches_in_fit(trainer) == -1  # no batch run yet
    assert internals.steps_logged_by_lightning(trainer) == 0


def test_a_step_limit_set_after_the_trainer_is_built_is_the_trainers():
    trainer = L.Trainer(logger=False, enable_checkpointing=False, max_epochs=3)
    internals.limit_steps(trainer, 7)
    assert (trainer.max_steps, trainer.max_epochs) == (7, -1)


def test_the_tensorboard_loggers_file_writer_takes_raw_summaries(tmp_path):
    writer = internals.tensorboard_file_writer(TensorBoardLogger(tmp_path))
    assert callable(writer.add_summary)


@pytest.mark.parametrize("class_path", sorted(internals.LIGHTNING_PRIVATE_METHODS))
def test_the_private_members_the_projects_subclasses_use_still_exist(class_path):
    module, name = class_path.rsplit(".", 1)
    instance = getattr(importlib.import_module(module), name)()
    missing = [m for m in internals.LIGHTNING_PRIVATE_METHODS[class_path] if not hasattr(instance, m)]
    assert not missing, f"{class_path} lost {missing}: see gpt_experiments/library_internals.py"


def test_a_trial_is_found_by_its_number():
    study = optuna.create_study()
    trials = [study.ask() for _ in range(3)]
    assert internals.trial_id(study, 2) == trials[2]._trial_id


def test_a_failed_jobs_exception_is_read_without_raising_it():
    error = ValueError("bad setting")
    result = JobReturn(status=JobStatus.FAILED, _return_value=error)
    assert internals.job_exception(result) is error
    with pytest.raises(ValueError):
        result.return_value  # noqa: B018  (the public reader re-raises: why the private one is used)


class _Linear(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class _ValidationPoints(L.Callback):
    """Where Lightning validated, as (epoch, batch index before it), and where it was predicted."""

    def __init__(self) -> None:
        self.predicted: list[tuple[int, int]] = []
        self.actual: list[tuple[int, int]] = []
        self.last_batch = (0, -1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.last_batch = (trainer.current_epoch, batch_idx)
        batches_in_fit = internals.batches_in_fit(trainer) + 1
        if internals.validation_due(trainer, trainer.current_epoch, batch_idx + 1, batches_in_fit):
            self.predicted.append(self.last_batch)

    def on_validation_start(self, trainer, pl_module):
        self.actual.append(self.last_batch)


@pytest.mark.parametrize(
    ("val_check_interval", "check_val_every_n_epoch"),
    [(3, 1), (1.0, 2), (4, None), (0.5, 1), (1.0, 1)],
)
def test_the_validation_schedule_the_project_predicts_is_lightnings(
    val_check_interval, check_val_every_n_epoch
):
    points = _ValidationPoints()
    trainer = L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        max_epochs=4,
        val_check_interval=val_check_interval,
        check_val_every_n_epoch=check_val_every_n_epoch,
        callbacks=[points],
    )
    data = DataLoader(TensorDataset(torch.ones(10, 1)), batch_size=1)
    trainer.fit(
        _Linear(), train_dataloaders=data, val_dataloaders=DataLoader(TensorDataset(torch.ones(2, 1)))
    )
    assert points.actual  # the schedule validated at all
    assert points.predicted == points.actual
