"""A shuffling sampler whose order depends only on (seed, epoch), so training can resume mid-epoch.

``RandomSampler`` draws its order from the global RNG and always starts an epoch from the
top. After a resume that gives a different order and repeats the batches already trained
on. Here the permutation is recomputed from the seed and the epoch number, and the first
``samples_done`` indices of the resumed epoch are skipped.

torch's samplers build ``randperm(n).tolist()``: about 36 bytes of Python ints per window,
hundreds of MB at stride 1 over a large corpus. Here the order stays an int32 array
(4 bytes per window) and indices are handed out in blocks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

BLOCK = 1 << 16  # indices converted to Python ints at a time


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
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_samples).astype(np.int32)

    def __iter__(self) -> Iterator[int]:
        skip = 0
        if self._resume_at is not None and self._resume_at[0] == self.epoch:
            skip = self._resume_at[1]
            self._resume_at = None
        order = self.permutation(self.epoch)[skip:]
        for start in range(0, len(order), BLOCK):
            yield from order[start : start + BLOCK].tolist()

    def __len__(self) -> int:
        # The full epoch, even when resuming: Lightning counts the skipped batches as done.
        return self.num_samples
