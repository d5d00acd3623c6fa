"""Every use of another library's private or undocumented internals, in one place.

Each is here because the public API lacks it; its docstring says what is missing. Nothing is
imported: each function reads attributes of an object it is given, so this module costs no
import time. ``tests/test_library_internals.py`` reads every one of them on real objects (and
checks the private methods the project's subclasses override), so an upgrade that moves one
fails there, by name, instead of in the middle of a run.
"""

from __future__ import annotations

from typing import Any

# --- Lightning ------------------------------------------------------------------------------


def batch_progress(trainer: Any) -> Any:
    """The fit loop's counters of this epoch's batches (``ready``, ``started``, ``processed``,
    ``completed``). Lightning saves them to resume its own loop but has no public accessor; the
    data module reads (and, on a resume, moves) them to keep its position in the epoch."""
    return trainer.fit_loop.epoch_loop.batch_progress.current


def epoch_progress(trainer: Any) -> Any:
    """The fit loop's counters of epochs (``started``, ``processed``...): whether the last epoch
    is over, which ``trainer.current_epoch`` does not say while its end hooks run."""
    return trainer.fit_loop.epoch_progress.current


def batches_in_fit(trainer: Any) -> int:
    """Training batches run in this fit, across epochs (the count Lightning's every-N-batches
    validation is scheduled by); not exposed by the Trainer."""
    return trainer.fit_loop.epoch_loop.total_batch_idx


def validation_due(trainer: Any, epoch: int, batches_in_epoch: int, batches_in_fit: int) -> bool:
    """Whether Lightning validates once ``batches_in_epoch`` batches of epoch ``epoch`` (0-based)
    and ``batches_in_fit`` batches of the whole fit are trained. Its rule (``TrainingEpochLoop.
    _should_check_val_fx``): in the epochs ``check_val_every_n_epoch`` picks, after every
    ``val_check_batch`` batches counted within the epoch, or across epochs when that is
    ``None``; an epoch's last batch is no exception. The Trainer has no public way to ask;
    time-based intervals (``val_check_batch`` is ``None``) are not predicted.
    """
    if not trainer.enable_validation or trainer.val_check_batch is None:
        return False
    if trainer.val_check_batch == float("inf"):  # a loader without a length: at its end
        return batches_in_epoch >= trainer.num_training_batches
    every_n_epochs = trainer.check_val_every_n_epoch
    if every_n_epochs is None:
        return batches_in_fit % trainer.val_check_batch == 0
    return (epoch + 1) % every_n_epochs == 0 and batches_in_epoch % trainer.val_check_batch == 0


def steps_logged_by_lightning(trainer: Any) -> int:
    """The step Lightning logs training values at (optimizer steps before the current one);
    ``trainer.global_step`` can differ from it with several optimizers or manual optimization."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def limit_steps(trainer: Any, steps: int) -> None:
    """Stop ``trainer`` after ``steps`` optimizer steps, whatever its epoch limit: the Trainer
    takes ``max_steps`` only when built, and a token budget is known only once the data is."""
    trainer.fit_loop.epoch_loop.max_steps = steps
    trainer.fit_loop.max_epochs = -1


def tensorboard_file_writer(logger: Any) -> Any:
    """The event-file writer of a Lightning ``TensorBoardLogger``: raw summaries (the HParams
    plugin's session records) go through it, into the file the run's scalars are in.
    ``SummaryWriter`` hides its writer; ``add_hparams`` would write to a second file."""
    return logger.experiment._get_file_writer()


# Private methods of Lightning classes that the project's subclasses override or call, with
# the public hook that is missing (tests/test_library_internals.py checks they still exist).
LIGHTNING_PRIVATE_METHODS = {
    # checkpoints/retention.py: last.ckpt as a link to the best file, and saved after the
    # validation that follows its step (ModelCheckpoint has no "when to save last" hook).
    "lightning.pytorch.callbacks.ModelCheckpoint": (
        "_save_last_checkpoint",
        "_should_save_on_train_epoch_end",
        "_monitor_candidates",
        "_every_n_train_steps",
        "_last_global_step_saved",
    ),
    # training/callbacks/progress.py: tokens/s and the epoch's step in the bar's description.
    "lightning.pytorch.callbacks.RichProgressBar": ("_get_train_description",),
}

# --- Optuna ---------------------------------------------------------------------------------


def trial_id(study: Any, number: int) -> int:
    """The storage id of trial ``number``: Optuna has no public lookup of a trial by number
    outside the process that asked for it, and a search's jobs report from their own."""
    return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)


# --- Hydra ----------------------------------------------------------------------------------


def job_exception(result: Any) -> BaseException:
    """The exception a failed Hydra job raised: ``JobReturn.return_value`` re-raises it instead."""
    return result._return_value
