"""LightningDataModule: the windows of :class:`WindowedData` served as train/val loaders.

The training order is a function of the seed and epoch (see ``ResumableRandomSampler``)
and the position in the epoch is saved in checkpoints, so a resumed run continues with
exactly the batches an uninterrupted run would have seen, also on another number of devices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Subset

from gpt_experiments import library_internals as internals
from gpt_experiments.data.samplers import ResumableRandomSampler
from gpt_experiments.data.windowed_data import WindowedData
from gpt_experiments.errors import warn
from gpt_experiments.legacy import data_position_in_windows
from gpt_experiments.tokenizer import Tokenizer


class LazyStartLoader(DataLoader):
    """A ``DataLoader`` whose iterator starts (and its workers draw indices) at the first batch.

    Lightning creates the training iterator before it sets the sampler's epoch, and on FSDP
    before it loads the checkpoint's position. With ``num_workers > 0`` a started iterator
    has already drawn its first indices from the sampler, so a resumed epoch took the order
    of the wrong epoch from the wrong place.
    """

    def __iter__(self) -> Iterator:
        return _StartAtFirstBatch(self)


class _StartAtFirstBatch:
    def __init__(self, loader: LazyStartLoader) -> None:
        self._loader = loader
        self._started: Iterator | None = None

    def __iter__(self) -> _StartAtFirstBatch:
        return self

    def __next__(self) -> Any:
        if self._started is None:
            self._started = DataLoader.__iter__(self._loader)
        return next(self._started)


class GPTDataModule(L.LightningDataModule):
    """Loaders over the windows of a :class:`WindowedData` (same settings: ``conf/data``, the
    tokenizer and the seed), and the position in the training order saved in checkpoints.

    Validation gets two loaders: the held-out split, and ``eval_train_batches`` fixed
    batches of the training split scored in eval mode (the seed's "train loss").
    """

    # Set from a checkpoint: where the interrupted epoch stopped, until the sampler is moved there.
    _resume_position: dict[str, int] | None = None
    # The resumed epoch's (epoch, windows done, Lightning's batch count) when its pass began.
    _resumed_from: tuple[int, int, int] | None = None

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.windows = WindowedData(**settings)  # checks every setting before anything is read

    @property
    def tokenizer(self) -> Tokenizer:
        return self.windows.tokenizer

    def prepare_data(self) -> None:
        # Runs once per node before setup: fills the token cache so ranks don't race on it.
        # Kept, so this process's setup() does not hash (or, uncached, tokenize) the corpus again.
        self.windows.tokens = self.windows.load_tokens()

    def setup(self, stage: str | None = None) -> None:
        self.windows.load_windows()
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        self.train_sampler = ResumableRandomSampler(
            len(self.windows.train_set), self.windows.seed, rank, world_size, self.windows.batch_size
        )
        self._apply_resume_position()

    def state_dict(self) -> dict[str, Any]:
        """Where training is in the data: the epoch and how many windows of its order are trained on.

        Saved in every checkpoint. The count is over all ranks, so it means the same on any
        number of devices. It follows from Lightning's ``processed`` batches, the batches
        whose step has run, which is what a checkpoint written at a batch's end or after a
        validation has covered. Once the fit loop has finished an epoch (a save in an epoch's
        end hooks, or when training ends), Lightning resumes at the next epoch's start, and
        so does the data.
        """
        if self.trainer is None:
            return {}
        epochs = internals.epoch_progress(self.trainer)
        if epochs.processed == epochs.started:  # the last epoch is over: the next one is unstarted
            return {"epoch": epochs.processed, "windows_done": 0}
        epoch = self.trainer.current_epoch
        batches = internals.batch_progress(self.trainer).processed
        windows_before, batches_before = 0, 0
        if self._resumed_from is not None and self._resumed_from[0] == epoch:
            _, windows_before, batches_before = self._resumed_from
        per_batch = self.windows.batch_size * self.trainer.world_size
        # A resumed pass may end with a shorter step: count no more windows than it trains.
        trained = min((batches - batches_before) * per_batch, self.train_sampler.windows_left(windows_before))
        return {"epoch": epoch, "windows_done": windows_before + trained}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_position = data_position_in_windows(state_dict, self.windows.batch_size) or None
        self._apply_resume_position()

    def _apply_resume_position(self) -> None:
        """Move the sampler to the restored position, whichever of it and the sampler came last.

        Lightning restores a checkpoint after ``setup`` on every strategy, but on FSDP ones
        also after ``configure_optimizers`` has built the training loader (for the
        schedule's step count). The sampler is the loader's, so moving it here holds either
        way: it reads the position when the epoch's pass starts.
        """
        sampler = getattr(self, "train_sampler", None)
        if not self._resume_position or sampler is None:
            return
        position, self._resume_position = self._resume_position, None
        epoch, windows_done = position["epoch"], position["windows_done"]
        sampler.resume_at(epoch, windows_done)
        # Lightning's restored count on an unchanged number of devices; count_resumed_batches corrects it.
        counted = windows_done // (self.windows.batch_size * sampler.num_replicas)
        self._resumed_from = (epoch, windows_done, counted)
        dropped = sampler.windows_dropped(windows_done)
        if dropped and self.trainer is not None and self.trainer.is_global_zero:
            warn(
                f"epoch {epoch} was stopped after {windows_done} windows, which leaves "
                f"{dropped} of its windows that {sampler.num_replicas} devices cannot share "
                "evenly: they are skipped in this epoch"
            )

    def train_dataloader(self) -> DataLoader:
        # The sampler sets the epoch's length, a shorter last step included (see its docstring).
        return self._loader(
            self.windows.train_set, sampler=self.train_sampler, drop_last=False, kind=LazyStartLoader
        )

    def count_resumed_batches(self) -> None:
        """Make Lightning count the resumed epoch's batches in this run's batch size.

        Lightning ends the epoch after ``len(loader)`` batches, counting from the batch count
        it restored. On another number of devices that count must change so that it and the
        batches left add up to the epoch: ``len(loader) - batches left``. Called (by the
        ``ResumedEpochProgress`` callback) once Lightning has restored its loops, before the
        epoch starts; with an unchanged number of devices it changes nothing.
        """
        if self._resumed_from is None or self.trainer is None:
            return
        epoch, windows_done, _ = self._resumed_from
        sampler = self.train_sampler
        per_rank_left = sampler.windows_left(windows_done) // sampler.num_replicas
        done = len(sampler) // self.windows.batch_size - math.ceil(per_rank_left / self.windows.batch_size)
        progress = internals.batch_progress(self.trainer)
        shift = done - progress.processed
        # Shifting all four counters keeps their relations (a save mid-step leaves them unequal).
        progress.ready += shift
        progress.started += shift
        progress.processed += shift
        progress.completed += shift
        self._resumed_from = (epoch, windows_done, done)

    def val_dataloader(self) -> list[DataLoader]:
        loaders = [self._loader(self.windows.val_set, drop_last=False)]
        if self.windows.eval_train_batches:
            first = range(
                min(len(self.windows.train_set), self.windows.eval_train_batches * self.windows.batch_size)
            )
            loaders.append(self._loader(Subset(self.windows.train_set, first), drop_last=False))
        return loaders

    def _loader(
        self,
        dataset,
        drop_last: bool,
        sampler: ResumableRandomSampler | None = None,
        kind: type[DataLoader] = DataLoader,
    ) -> DataLoader:
        return kind(
            dataset,
            batch_size=self.windows.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.windows.num_workers,
            persistent_workers=self.windows.num_workers > 0,
            # Each new iterator draws a seed from its generator: a private one leaves the
            # global RNG (dropout) alone, so validations don't shift the training randomness.
            generator=torch.Generator().manual_seed(self.windows.seed),
        )
