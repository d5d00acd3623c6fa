"""The generation benchmark's baseline: the chapter's model holding the project model's weights."""

from __future__ import annotations

import pytest
import torch

from benchmarks.generation_vs_seed import seed_generate, seed_model_with_weights_of
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig


@pytest.mark.parametrize(
    "variant",
    [{}, {"qkv_bias": False}, {"tie_embeddings": False}, {"pad_vocab_to_multiple": 64}],
    ids=["gpt2", "no-qkv-bias", "untied", "padded-vocab"],
)
def test_chapter_model_with_project_weights_computes_the_same_logits(variant):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, **variant)
    model = GPT(config).eval()
    chapter = seed_model_with_weights_of(model)
    ids = torch.randint(0, config.vocab_size, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(chapter(ids), model(ids))
    prompt = ids[:1, :5]
    sampler = SamplerConfig(max_new_tokens=20)  # past the 16-token context
    assert seed_generate(chapter, prompt, 20, 16)[0].tolist() == generate(model, prompt.tolist(), sampler)[0]
