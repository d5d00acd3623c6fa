"""Saving and restoring the random number generators, so dropout repeats exactly after a resume."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG's state, as types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), position, has_gauss, cached_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    kind, keys, position, has_gauss, cached_gauss = state["numpy"]
    random.setstate(state["python"])
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RNGStateCheckpoint(L.Callback):
    """Stores every rank's RNG states in each checkpoint; puts them back just before the first resumed step.

    Ranks draw different numbers (only rank 0 samples text, for one), so each keeps its own
    state. Resumed on another number of devices, rank ``r`` takes saved rank ``r mod saved``:
    the run continues, but its dropout masks no longer repeat those of an uninterrupted run.
    Restoring at the first training batch (not at load time) skips over anything that draws
    random numbers in between, such as the sanity-check validation.
    """

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] | None = None

    def state_dict(self) -> dict[str, Any]:
        # Lightning builds the checkpoint on every rank and rank 0 writes it: gather to rank 0.
        state = capture_rng_state()
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return {"ranks": [state]}
        states: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(states, state)
        return {"ranks": states}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict["ranks"]

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if self._pending is not None:
            restore_rng_state(self._pending[trainer.global_rank % len(self._pending)])
            self._pending = None
