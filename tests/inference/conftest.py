"""The small random GPT that the precision tests (bf16, int8) convert and compare with fp32."""

from __future__ import annotations

import pytest
import torch

from gpt_experiments.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=97, context_length=24, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)


@pytest.fixture(scope="module")
def fp32_model() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY).eval()
