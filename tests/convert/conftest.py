"""Conversion-test fixtures: one tiny OpenAI checkpoint folder, written once (TensorFlow starts slowly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.convert.gpt2_checkpoints import TINY_HPARAMS, openai_arrays, write_openai_folder


@pytest.fixture(scope="session")
def tiny_arrays() -> dict[str, np.ndarray]:
    return openai_arrays(TINY_HPARAMS)


@pytest.fixture(scope="session")
def openai_folder(tmp_path_factory, tiny_arrays) -> Path:
    return write_openai_folder(tmp_path_factory.mktemp("openai") / "tiny", tiny_arrays, TINY_HPARAMS)


@pytest.fixture(scope="session")
def tiny_tokens() -> torch.Tensor:
    return torch.randint(
        0, TINY_HPARAMS["n_vocab"], (2, TINY_HPARAMS["n_ctx"]), generator=torch.Generator().manual_seed(1)
    )
