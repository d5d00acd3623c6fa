"""One token stream over several memory-mapped shards, without concatenating them.

A window that starts near the end of one shard continues in the next, exactly as it would
in the single array the shards were cut from; only that window's tokens are ever copied.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ConcatenatedTokens:
    """Read-only ``len()`` and ``[start:stop]`` over ``parts`` laid end to end."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = [part for part in parts if len(part)]
        dtypes = {part.dtype for part in self.parts}
        self.dtype = dtypes.pop() if len(dtypes) == 1 else np.dtype(np.uint32)
        # starts[i]: position of parts[i][0] in the stream; starts[-1]: the stream's length.
        self.starts = np.cumsum([0] + [len(part) for part in self.parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("ConcatenatedTokens supports contiguous slices only")
        start, stop, _ = key.indices(len(self))
        if start >= stop:
            return np.empty(0, dtype=self.dtype)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces = []
        index = first
        while start < stop:
            offset = start - int(self.starts[index])
            take = min(stop - start, len(self.parts[index]) - offset)
            pieces.append(self.parts[index][offset : offset + take])
            start += take
            index += 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces).astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        # For small corpora and tests: the whole stream as one array.
        whole = self[0 : len(self)]
        return whole if dtype is None else whole.astype(dtype)


def join_shards(parts: Sequence[np.ndarray]) -> np.ndarray | ConcatenatedTokens:
    """A single shard as itself (a memmap, sliceable as before); several as one view."""
    return parts[0] if len(parts) == 1 else ConcatenatedTokens(parts)


def first_tokens(tokens: np.ndarray | ConcatenatedTokens, count: int) -> np.ndarray | ConcatenatedTokens:
    """The first ``count`` tokens, still without copying."""
    if isinstance(tokens, ConcatenatedTokens):
        kept, remaining = [], count
        for part in tokens.parts:
            if remaining <= 0:
                break
            kept.append(part[:remaining])
            remaining -= len(kept[-1])
        return join_shards(kept)
    return tokens[:count]
