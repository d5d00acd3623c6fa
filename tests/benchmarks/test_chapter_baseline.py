"""The benchmarks' baseline computes the same numbers as the project's GPT given the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.chapter_baseline import (
    WindowDataset,
    chapter_model_with_weights_of,
    generate_uncached,
    tanh_gelu,
    train_steps,
)
from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig

TINY = {"vocab_size": 97, "context_length": 16, "emb_dim": 32, "n_heads": 4, "n_layers": 2}
# The project's GPT set up as the chapter's model: untied head, PyTorch's default init, no qkv bias.
CHAPTER_LIKE = GPTConfig(**TINY, tie_embeddings=False, weight_init="pytorch", qkv_bias=False, drop_rate=0.0)


@pytest.mark.parametrize(
    "variant",
    [{}, {"qkv_bias": False}, {"tie_embeddings": False}, {"pad_vocab_to_multiple": 64}],
    ids=["gpt2", "no-qkv-bias", "untied", "padded-vocab"],
)
def test_baseline_with_project_weights_computes_the_same_logits_and_tokens(variant):
    torch.manual_seed(0)
    config = GPTConfig(**TINY, **variant)
    model = GPT(config).eval()
    chapter = chapter_model_with_weights_of(model).eval()
    ids = torch.randint(0, config.vocab_size, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(chapter(ids), model(ids), atol=1e-5, rtol=1e-5)
    prompt = ids[:1, :5]
    sampler = SamplerConfig(max_new_tokens=20)  # past the 16-token context, so cropping is exercised
    expected = generate(model, prompt.tolist(), sampler)[0]
    assert generate_uncached(chapter, prompt, 20, 16)[0].tolist() == expected
    assert generate_uncached(model, prompt, 20, 16)[0].tolist() == expected


def test_baseline_trains_like_the_project_model_step_by_step():
    torch.manual_seed(1)
    model = GPT(CHAPTER_LIKE)
    chapter = chapter_model_with_weights_of(model)
    two = [(ids[:, :-1], ids[:, 1:]) for ids in torch.randint(0, 97, (2, 3, 17))]
    batches = two + two  # each batch twice, so the second visit shows whether training worked

    def losses(net: torch.nn.Module) -> list[float]:
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.1)
        return [loss.item() for loss in train_steps(net, batches, optimizer)]

    ours, theirs = losses(model), losses(chapter)
    # The steps really changed the weights, so equal losses mean equal updates.
    assert ours[2] < ours[0] - 0.05 and ours[3] < ours[1] - 0.05
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


def test_layer_norm_and_gelu_match_torch():
    torch.manual_seed(2)
    model = GPT(CHAPTER_LIKE)
    chapter = chapter_model_with_weights_of(model)
    x = torch.randn(3, 5, 32) * 4 + 1
    with torch.no_grad():
        torch.testing.assert_close(chapter.final_norm(x), model.ln_f(x))
    torch.testing.assert_close(tanh_gelu(x), torch.nn.functional.gelu(x, approximate="tanh"))


def test_window_dataset_holds_the_project_windows():
    tokens = np.arange(50, 73, dtype=np.int64)  # 23 tokens
    for max_length, stride in ((4, 1), (4, 3), (5, 5), (22, 1), (23, 1)):
        ours = TokenWindows(tokens, max_length, stride)
        chapter = WindowDataset(tokens.tolist(), max_length, stride)
        assert len(chapter) == len(ours)
        for i in range(len(ours)):
            for got, want in zip(chapter[i], ours[i], strict=True):
                assert torch.equal(got, want)
