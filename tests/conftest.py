"""Shared fixtures: composing the real configs in conf/ with Hydra's compose API; test workers."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from gpt_experiments.config import register_resolvers

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

register_resolvers()


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs one pytest-xdist worker per core. Each worker (and every script it
    # starts, through the environment) then uses one thread: torch's default of one per core
    # in every worker would put several spinning threads on each core and slow all of them.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The long end-to-end tests first (in file order among themselves): the short ones then
    # fill the end, so no worker is left running one long test while the others are idle.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
