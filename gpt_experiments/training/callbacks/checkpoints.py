"""``last.ckpt`` written once per step: a hard link to a best checkpoint of the same step,
and not rewritten by a second callback at a step it already holds."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import ClassVar

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor

from gpt_experiments.convert.project import sync_directory


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
    """

    # last.ckpt files that callbacks of this class brought up to date in this process, and
    # the global step each holds.
    _steps_held: ClassVar[dict[Path, int]] = {}

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
