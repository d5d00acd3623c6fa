"""A sweep's last words: its runs ranked, as ``scripts/compare_runs.py <sweep folder>`` prints them,
and exit status 1 when any of its jobs failed."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gpt_experiments.cli.compare import print_comparison
from gpt_experiments.cli.handler import exit_with_error, user_error_message
from gpt_experiments.run_folder.saved import RUN_CONFIG
from gpt_experiments.run_folder.status import failure_message
from gpt_experiments.runs.records import find_run_dirs


def jobs_since(folder: Path, started: float) -> list[Path]:
    """The job folders under ``folder`` made at ``started`` (a time.time()) or later: a search
    continued in its folder also holds the jobs of earlier commands."""
    runs = find_run_dirs(folder)
    return [run for run in runs if (run / RUN_CONFIG).stat().st_mtime >= started]


def whole_seconds_now() -> float:
    """Now, rounded down: some file systems keep file times in whole seconds."""
    return float(math.floor(time.time()))


class CompareWhenSweepEnds(Callback):
    """Hydra calls this once every job of a ``-m`` run has finished (see conf/hydra/default.yaml)."""

    def __init__(self) -> None:
        self.started = whole_seconds_now()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = whole_seconds_now()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.report(config)
        folder = Path(config.hydra.sweep.dir)
        jobs = jobs_since(folder, self.started) if folder.is_dir() else []
        failed = [job for job in jobs if failure_message(job) is not None]
        if failed:
            exit_with_error(
                f"{len(failed)} of {len(jobs)} jobs failed (each left its error in a FAILED file): "
                f"fix their settings and run those again; the first: {failed[0]}"
            )

    def report(self, config: DictConfig) -> None:
        folder = str(config.hydra.sweep.dir)
        print(f"\nSweep finished: {folder}")
        try:
            print_comparison(folder)
        except Exception as err:  # the jobs are done: a report that fails must not hide that
            message = user_error_message(err)
            if message is None:
                raise
            print(f"error: cannot compare the runs: {message}", file=sys.stderr)
