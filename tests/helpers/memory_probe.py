"""A Hydra callback for tests: records memory use after every job of a sweep run in one process."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import psutil
from hydra.experimental.callback import Callback
from torch import nn


class MemoryAfterEachJob(Callback):
    """Appends ``<resident set size in bytes> <live torch modules>`` to ``path`` when a job ends.

    The module count is exact (a job that leaves its model behind shows up at once); the
    resident size is what users see, but moves up and down with the allocator.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        gc.collect()
        live_modules = sum(isinstance(obj, nn.Module) for obj in gc.get_objects())
        with open(self.path, "a") as f:
            f.write(f"{psutil.Process().memory_info().rss} {live_modules}\n")
