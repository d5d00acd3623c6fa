"""Checkpoint files written atomically and read safely, plugged into the Trainer via ``plugins``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from gpt_experiments.checkpoint_io import safe_torch_load


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temporary file beside the target, flushes it to disk, then renames it.

    ``os.replace`` swaps the name in one step, so a crash or ``kill -9`` in the middle of a
    save leaves the previous checkpoint complete. Reading refuses pickled code and names
    the file when it is truncated or not a checkpoint.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        # Persist the rename itself, so a power loss cannot bring the old name back.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: Any = None) -> dict:
        return safe_torch_load(path)
