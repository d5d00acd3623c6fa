"""A Hydra callback for tests: records the process's resident memory after every job of a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
from hydra.experimental.callback import Callback


class RssAfterEachJob(Callback):
    """Appends one line, the resident set size in bytes, to ``path`` when a job ends."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        with open(self.path, "a") as f:
            f.write(f"{psutil.Process().memory_info().rss}\n")
