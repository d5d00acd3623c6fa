"""Checkpoint files written atomically and read safely, plugged into the Trainer via ``plugins``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from gpt_experiments.checkpoints.project import safe_torch_load
from gpt_experiments.files import atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through :func:`atomic_torch_save`, so a crash or ``kill -9`` in the middle of a
    save leaves the previous checkpoint complete. Reading refuses pickled code and names
    the file when it is truncated or not a checkpoint.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: Any = None) -> dict:
        return safe_torch_load(path)
