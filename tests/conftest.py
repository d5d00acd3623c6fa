"""Shared fixtures: composing the real configs in conf/ with Hydra's compose API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from gpt_experiments.config import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# A run small enough for a test: tiny model, short context, two epochs.
TINY_RUN = [
    "model=tiny",
    "model.context_length=32",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "sampler.max_new_tokens=8",
]

register_resolvers()


@pytest.fixture
def compose_train(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides; outputs and caches go under tmp_path."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(
                config_name="train",
                overrides=[
                    f"paths.output_dir={tmp_path}/run",
                    f"paths.cache_dir={tmp_path}/cache",
                    *overrides,
                ],
            )

    return _compose


def run_script(script: str, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run one of scripts/*.py as a user would, in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GPT_EXPERIMENTS_CACHE": str(cwd / "cache")}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
