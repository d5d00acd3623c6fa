"""A shuffling sampler whose order depends only on (seed, epoch), so training can resume mid-epoch,
on the same or a different number of devices.

``RandomSampler`` draws its order from the global RNG and always starts an epoch from the
top. After a resume that gives a different order and repeats the batches already trained
on. Here the epoch's order is one permutation of all windows, recomputed from the seed and
the epoch number, shared by every rank. Training consumes it from the front: with ``W``
ranks, each step takes the next ``batch_size × W`` windows of it, rank ``r`` the ones at
positions ``r, r + W, r + 2W, ...``. So "how far into the epoch" is one number, the count of
windows of the order consumed, whatever the number of ranks. A resumed pass drops that
many windows from the front and shares out the rest among the ranks it now has.

An uninterrupted epoch on ``W`` ranks trains the order's first ``n - n % (batch_size × W)``
windows, in full steps. A pass resumed at a count that is not a multiple of
``batch_size × W`` (the run was stopped on another number of ranks) ends with one shorter
step, the same number of windows on each rank, so it still trains every window of that
prefix; only when the windows left cannot be split evenly between the ranks are the last
``(left) % W`` of them dropped (``windows_dropped``).

torch's samplers build ``randperm(n).tolist()``: about 36 bytes of Python ints per window,
hundreds of MB at stride 1 over a large corpus. Here the order stays an int32 array
(4 bytes per window) and indices are handed out in blocks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import DistributedSampler

BLOCK = 1 << 16  # indices converted to Python ints at a time


class ResumableRandomSampler(DistributedSampler):
    """This rank's share of the epoch's order, from a saved position on.

    It is a ``DistributedSampler`` so that Lightning sees a loader that is already split
    between ranks and does not wrap it in a sampler of its own.
    """

    def __init__(
        self, num_windows: int, seed: int, rank: int = 0, world_size: int = 1, batch_size: int = 1
    ) -> None:
        super().__init__(range(num_windows), num_replicas=world_size, rank=rank, seed=seed, drop_last=True)
        self.num_windows = num_windows
        self.batch_size = batch_size
        # (epoch, windows of its order already consumed by all ranks); used by the first pass over it.
        self._resume_at: tuple[int, int] | None = None

    def resume_at(self, epoch: int, windows_done: int) -> None:
        """Make the next pass over ``epoch`` start after the first ``windows_done`` windows of its order."""
        self._resume_at = (epoch, windows_done)

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_windows).astype(np.int32)

    def epoch_windows(self) -> int:
        """How many windows of the order an uninterrupted epoch trains: whole steps only."""
        per_step = self.batch_size * self.num_replicas
        return self.num_windows - self.num_windows % per_step

    def windows_left(self, windows_done: int) -> int:
        """Windows a pass resumed after ``windows_done`` trains: an equal share for every rank."""
        left = max(0, self.epoch_windows() - windows_done)
        return left - left % self.num_replicas

    def windows_dropped(self, windows_done: int) -> int:
        """Windows of the epoch that a pass resumed after ``windows_done`` cannot share out evenly."""
        return max(0, self.epoch_windows() - windows_done) - self.windows_left(windows_done)

    def __iter__(self) -> Iterator[int]:
        skip = 0
        if self._resume_at is not None and self._resume_at[0] == self.epoch:
            skip = self._resume_at[1]
            self._resume_at = None
        rest = self.permutation(self.epoch)[skip : skip + self.windows_left(skip)]
        # Every rank gets the same count, so no rank waits for a step the others never take.
        mine = rest[self.rank :: self.num_replicas]
        for start in range(0, len(mine), BLOCK):
            yield from mine[start : start + BLOCK].tolist()

    def __len__(self) -> int:
        # The full epoch, even when resuming: Lightning counts the skipped batches as done.
        return self.epoch_windows() // self.num_replicas
