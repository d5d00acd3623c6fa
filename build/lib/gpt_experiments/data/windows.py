"""Sliding windows over a token stream: inputs and next-token targets.

Unlike the seed's dataset, which stores one tensor per window, a window is sliced from
the (memory-mapped) token array when asked for, so memory does not grow with overlap.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def count_windows(num_tokens: int, max_length: int, stride: int) -> int:
    """Number of windows the seed's ``range(0, num_tokens - max_length, stride)`` yields."""
    if num_tokens <= max_length:
        return 0
    return (num_tokens - max_length - 1) // stride + 1


class TokenWindows(Dataset):
    """Window ``i`` is ``tokens[i*stride : i*stride+max_length]``, targets shifted by one."""

    def __init__(self, tokens: np.ndarray, max_length: int, stride: int) -> None:
        self.tokens = tokens
        self.max_length = max_length
        self.stride = stride
        self._len = count_windows(len(tokens), max_length, stride)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self._len:
            raise IndexError(index)
        start = index * self.stride
        chunk = torch.from_numpy(self.tokens[start : start + self.max_length + 1].astype(np.int64))
        return chunk[:-1], chunk[1:]
