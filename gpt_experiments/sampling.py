"""Shuffling millions of windows without a Python object per window."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler

BLOCK = 1 << 16  # indices converted to Python ints at a time


class ShuffledWindowSampler(DistributedSampler):
    """A fresh random order every epoch; with several ranks, each takes its own share.

    torch's samplers build ``randperm(n).tolist()``: ~36 bytes of Python ints per window,
    hundreds of MB at stride 1 over a large corpus, per rank. This keeps the permutation
    as an int32 tensor (4 bytes per window) and hands out indices in blocks. Being a
    ``DistributedSampler``, Lightning uses it as is under DDP/FSDP instead of wrapping it.
    Like ``drop_last=True``, every rank gets the same number of windows.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)  # same order on every rank
        order = torch.randperm(len(self.dataset), generator=generator, dtype=torch.int32)
        mine = order[: self.total_size][self.rank :: self.num_replicas]
        for start in range(0, len(mine), BLOCK):
            yield from mine[start : start + BLOCK].tolist()
