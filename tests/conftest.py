"""Shared fixtures: composing the real configs in conf/ with Hydra's compose API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from gpt_experiments.config import register_resolvers

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

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
