"""Helpers shared by the tests: running the scripts as a user would (``preloaded``), quiet
Trainers; probes in submodules."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import lightning as L

from tests.helpers.preloaded import run_python

ROOT = Path(__file__).resolve().parents[2]

# A run small enough for a test: tiny model, short context, two epochs.
TINY_RUN = [
    "model=tiny",
    "model.context_length=32",
    "trainer.max_epochs=2",
    # fp32 whatever the machine, so results do not depend on its bf16 units.
    "trainer.precision=32-true",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "sampler.max_new_tokens=8",
]


def script_env(cwd: Path, **extra: str) -> dict[str, str]:
    """The environment scripts run in: this checkout importable, caches under ``cwd``."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "GPT_EXPERIMENTS_CACHE": str(cwd / "cache"), **extra}


def run_script(
    script: str, *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run one of scripts/*.py as a user would, in a process of its own (forked from one that
    has imported torch and Lightning already: ``tests/helpers/preloaded.py``)."""
    return run_python(ROOT / "scripts" / script, list(args), cwd, env or script_env(cwd), timeout)


def quiet_trainer(**settings: Any) -> L.Trainer:
    """A Lightning Trainer for in-process tests: no logger, checkpoints, progress bar or summary."""
    quiet = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return L.Trainer(**{**quiet, **settings})
