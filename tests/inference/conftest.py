"""The small random GPT that the precision tests (bf16, int8) convert and compare with fp32, and
the comparisons both make."""

from __future__ import annotations

import pytest
import torch

from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=97, context_length=24, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)


@pytest.fixture(scope="module")
def fp32_model() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY).eval()


def logits_side_by_side(fp32_model: GPT, converted: GPT) -> tuple[torch.Tensor, torch.Tensor]:
    """Both models' logits for the same two random windows of the full context."""
    torch.manual_seed(1)
    ids = torch.randint(0, TINY.vocab_size, (2, TINY.context_length))
    with torch.no_grad():
        return fp32_model(ids), converted(ids)


def assert_cached_greedy_matches_uncached(model: GPT, prompt_length: int) -> None:
    prompt = [(5 * i + 3) % TINY.vocab_size for i in range(prompt_length)]
    sampler = SamplerConfig(max_new_tokens=30)  # runs past the 24-token context
    cached = generate(model, [prompt], sampler)
    assert cached == generate(model, [prompt], sampler, use_cache=False)
    assert len(cached[0]) == prompt_length + 30
