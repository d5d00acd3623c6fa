"""A sweep's last words: its runs ranked, as ``scripts/compare_runs.py <sweep folder>`` prints them."""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gpt_experiments.cli.compare import print_comparison
from gpt_experiments.cli.handler import user_error_message


class CompareWhenSweepEnds(Callback):
    """Hydra calls this once every job of a ``-m`` run has finished (see conf/hydra/default.yaml)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = str(config.hydra.sweep.dir)
        print(f"\nSweep finished: {folder}")
        try:
            print_comparison(folder)
        except Exception as err:  # the jobs are done: a report that fails must not hide that
            message = user_error_message(err)
            if message is None:
                raise
            print(f"error: cannot compare the runs: {message}", file=sys.stderr)
