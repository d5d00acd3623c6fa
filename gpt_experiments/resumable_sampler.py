"""A shuffling sampler whose order depends only on (seed, epoch), so training can resume mid-epoch.

``RandomSampler`` draws its order from the global RNG and always starts an epoch from the
top. After a resume that gives a different order and repeats the batches already trained
on. Here the permutation is recomputed from the seed and the epoch number, and the first
``samples_done`` indices of the resumed epoch are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class ResumableRandomSampler(Sampler[int]):
    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0
        # (epoch, samples already trained on in it); consumed by the first pass over that epoch.
        self._resume_at: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def resume_at(self, epoch: int, samples_done: int) -> None:
        """Make the next pass over ``epoch`` start after its first ``samples_done`` samples."""
        self._resume_at = (epoch, samples_done)

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)

    def __iter__(self) -> Iterator[int]:
        skip = 0
        if self._resume_at is not None and self._resume_at[0] == self.epoch:
            skip = self._resume_at[1]
            self._resume_at = None
        yield from self.permutation(self.epoch)[skip:].tolist()

    def __len__(self) -> int:
        # The full epoch, even when resuming: Lightning counts the skipped batches as done.
        return self.num_samples
