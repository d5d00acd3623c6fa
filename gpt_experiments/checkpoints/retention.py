"""``last.ckpt`` written once per step: a hard link to a best checkpoint of the same step,
and not rewritten by a second callback at a step it already holds; written where a resumed
run continues exactly (after a validation that follows the step, and at the step where
``max_steps`` ends training)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import ClassVar

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor

from gpt_experiments import library_internals as internals
from gpt_experiments.files import sync_directory


class LinkedLastCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` that writes ``last.ckpt`` only when it would hold a new step.

    A GPT-2 small checkpoint with its AdamW state is 1.5 GB, written and flushed to disk in
    about 5 s on this project's CPU machine; the quick start wrote it three times at its
    last step (the best, ``last.ckpt`` beside it, and ``last.ckpt`` again from the
    every-N-steps callback when training ended). Now, on one process:

    - ``last.ckpt`` beside a best checkpoint saved at the same step is a hard link to it,
      made atomically (a link under a temporary name, renamed over ``last.ckpt``), so it is
      always a complete checkpoint and keeps its data when a better checkpoint later
      deletes the best file's name;
    - when training ends, a ``last.ckpt`` that one of these callbacks brought to the
      current step is not written again by another.

    Several processes, version counters and file systems without hard links get
    Lightning's own copies.

    Where it is written, so that resuming from it continues as if never stopped:

    - a step-triggered save at a step that a validation follows is made after that
      validation and its best checkpoint (with the validation's ``history.csv`` row).
      Lightning resumes a checkpoint written at the epoch's last batch in the next epoch,
      without the validation, so a run killed during the validation or its save lost them;
      now it resumes from the save before and repeats them;
    - when ``max_steps`` ends training, ``last.ckpt`` is written at the last batch's end.
      Written when training ends, it holds loops that say the epoch is over, and a run
      continued with a larger ``max_steps`` would skip the rest of that epoch.
    """

    # last.ckpt files that callbacks of this class brought up to date in this process, and
    # the global step each holds.
    _steps_held: ClassVar[dict[Path, int]] = {}
    # A step-triggered save waits for the validation that follows its step.
    _save_after_validation = False

    @property
    def state_key(self) -> str:
        # ModelCheckpoint's own key, so that runs saved before this class resume its state.
        return ModelCheckpoint.__qualname__ + super().state_key.removeprefix(type(self).__qualname__)

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Tensor]) -> None:
        filepath = self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)
        links_allowed = self._links_allowed(trainer)
        if not (links_allowed and self._link_to_checkpoint_of_this_step(trainer, filepath)):
            super()._save_last_checkpoint(trainer, monitor_candidates)
        if links_allowed:
            self._steps_held[Path(filepath).resolve()] = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if self.save_last and validation_follows(trainer, batch_idx):
            # Lightning's save here would be resumed past the validation: save after it instead.
            self._save_after_validation = self._save_after_validation or self._every_n_steps_due(trainer)
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.save_last and max_steps_reached(trainer):
            self._save_last_unless_held(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        # ModelCheckpoint's private choice of the hook that saves after a validation: the
        # deferred save follows the best checkpoint's there (this callback comes after it).
        if not trainer.sanity_checking and not self._should_save_on_train_epoch_end(trainer):
            self._save_deferred(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._save_deferred(trainer)  # also when the validation it waited for did not come

    def _save_deferred(self, trainer: L.Trainer) -> None:
        if self._save_after_validation:
            self._save_after_validation = False
            self._save_last_unless_held(trainer)

    def _every_n_steps_due(self, trainer: L.Trainer) -> bool:
        """Whether ``every_n_train_steps`` (or ``max_steps`` ending training) asks for a save now."""
        every = self._every_n_train_steps
        return (every >= 1 and trainer.global_step % every == 0) or max_steps_reached(trainer)

    def _save_last_unless_held(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` at this step, unless this or another callback did already."""
        if self._last_global_step_saved == trainer.global_step:
            return
        candidates = self._monitor_candidates(trainer)
        last = Path(self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST)).resolve()
        if self._links_allowed(trainer) and self._steps_held.get(last) == trainer.global_step:
            return
        self._save_last_checkpoint(trainer, candidates)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning writes ``last.ckpt`` here if this callback never did; skip it when another
        callback of this class brought it to this step already."""
        if self.save_last and self._links_allowed(trainer):
            last = self.format_checkpoint_name(self._monitor_candidates(trainer), self.CHECKPOINT_NAME_LAST)
            held = Path(last).resolve()
            if self._steps_held.get(held) == trainer.global_step and held.is_file():
                return
        super().on_train_end(trainer, pl_module)

    def _links_allowed(self, trainer: L.Trainer) -> bool:
        return self.save_last is True and not self._enable_version_counter and trainer.world_size == 1

    def _link_to_checkpoint_of_this_step(self, trainer: L.Trainer, filepath: str) -> bool:
        """Link ``filepath`` to the checkpoint this callback saved at the current step, if any."""
        source = self._last_checkpoint_saved
        saved_this_step = self._last_global_step_saved == trainer.global_step and bool(source)
        if not saved_this_step or Path(source) == Path(filepath) or not Path(source).is_file():
            return False
        try:
            link_atomically(Path(source), Path(filepath))
        except OSError:  # no hard links here (some network and FAT file systems)
            return False
        previous, self.last_model_path = self.last_model_path, filepath
        self._last_checkpoint_saved = filepath
        if previous and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)
        return True


def max_steps_reached(trainer: L.Trainer) -> bool:
    return trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps


def validation_follows(trainer: L.Trainer, batch_idx: int) -> bool:
    """Whether Lightning validates right after training batch ``batch_idx`` of this epoch."""
    batches_in_fit = internals.batches_in_fit(trainer) + 1
    return internals.validation_due(trainer, trainer.current_epoch, batch_idx + 1, batches_in_fit)


def link_atomically(source: Path, link: Path) -> None:
    """Make ``link`` a hard link to ``source``, replacing any file there in one step and
    persisting it as the checkpoint writes persist theirs."""
    tmp = link.with_name(f".{link.name}.link{os.getpid()}")
    try:
        os.link(source, tmp)
        os.replace(tmp, link)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    sync_directory(link.parent)
