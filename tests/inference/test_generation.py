"""KV-cache equivalence and sampler correctness on a tiny model."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.sampling import (
    SamplerConfig,
    filter_top_k,
    filter_top_p,
    generate,
    next_token,
    stream_tokens,
)
from gpt_experiments.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.1)


@pytest.fixture(scope="module")
def model() -> GPT:
    # float64 so that cached and recomputed logits never differ enough to flip an argmax.
    torch.manual_seed(0)
    return GPT(TINY).double()


def prompt(length: int, offset: int = 0) -> list[int]:
    return [(7 * i + offset) % TINY.vocab_size for i in range(length)]


def seed_greedy(model: GPT, ids: list[int], max_new_tokens: int) -> list[int]:
    """The seed's loop: rerun the last context window for every new token, no cache."""
    idx = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model.eval()(idx[:, -TINY.context_length :])[:, -1, :]
            idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx[0].tolist()


@pytest.mark.parametrize("chunks", [[16], [1] * 16, [5, 1, 7, 3], [9, 7]])
def test_cache_fed_in_chunks_gives_the_logits_of_one_full_pass(model, chunks):
    ids = torch.tensor([prompt(16), prompt(16, 5)])
    cache = model.eval().new_cache()
    pieces, start = [], 0
    for size in chunks:
        pieces.append(model(ids[:, start : start + size], cache))
        start += size
    assert cache.length == 16
    torch.testing.assert_close(torch.cat(pieces, dim=1), model(ids))
    with pytest.raises(ValueError, match="exceeds the model's context length"):
        model(ids[:, :1], cache)


@pytest.mark.parametrize("prompt_length", [1, 3, 9, 16])
@pytest.mark.parametrize("max_new_tokens", [1, 5, 30])  # 30 runs past the 16-token context
def test_cached_greedy_matches_uncached_and_seed_loop(model, prompt_length, max_new_tokens):
    sampler = SamplerConfig(max_new_tokens=max_new_tokens)
    ids = prompt(prompt_length)
    cached = generate(model, [ids], sampler, use_cache=True)
    assert cached == generate(model, [ids], sampler, use_cache=False)
    assert cached[0] == seed_greedy(model, ids, max_new_tokens)


def test_batch_with_different_prompt_lengths_matches_one_by_one(model):
    prompts = [prompt(3), prompt(7, 1), prompt(3, 2), prompt(12, 3), prompt(1, 4)]
    sampler = SamplerConfig(max_new_tokens=24)
    batched = generate(model, prompts, sampler, batch_size=2)
    assert batched == [generate(model, [p], sampler, use_cache=False)[0] for p in prompts]
    assert [len(row) for row in batched] == [len(p) + 24 for p in prompts]


def test_stream_tokens_yields_the_generated_continuation(model):
    sampler = SamplerConfig(max_new_tokens=20, temperature=0.9, top_k=10, seed=3)
    ids = prompt(5)
    assert list(stream_tokens(model, ids, sampler)) == generate(model, [ids], sampler)[0][5:]


def test_generation_stops_after_eos_and_restores_training_mode(model):
    ids = prompt(4)
    greedy = generate(model, [ids], SamplerConfig(max_new_tokens=10))[0]
    eos = greedy[6]  # the third generated token
    model.train()
    stopped = generate(model, [ids], SamplerConfig(max_new_tokens=10, eos_id=eos))[0]
    assert model.training
    model.eval()
    assert stopped == greedy[: greedy.index(eos, 4) + 1]
    assert list(stream_tokens(model, ids, SamplerConfig(max_new_tokens=10, eos_id=eos))) == stopped[4:]


def test_fixed_seed_gives_identical_samples(model):
    prompts = [prompt(4), prompt(4, 9), prompt(6)]
    sampler = SamplerConfig(max_new_tokens=25, temperature=1.5, top_p=0.9, seed=123)
    first = generate(model, prompts, sampler)
    torch.manual_seed(999)  # the global generator must not matter
    assert generate(model, prompts, sampler) == first
    other_seed = SamplerConfig(max_new_tokens=25, temperature=1.5, top_p=0.9, seed=124)
    assert generate(model, prompts, other_seed) != first


def test_tiny_temperature_equals_greedy(model):
    prompts = [prompt(2), prompt(8, 5)]
    greedy = generate(model, prompts, SamplerConfig(max_new_tokens=20))
    assert generate(model, prompts, SamplerConfig(max_new_tokens=20, temperature=1e-6, seed=0)) == greedy


def largest(values: torch.Tensor) -> float:
    return values.max().item() if values.numel() else float("-inf")


logits_rows = st.lists(st.floats(min_value=-20, max_value=20, allow_nan=False), min_size=2, max_size=40).map(
    lambda row: torch.tensor([row], dtype=torch.float64)
)


@settings(max_examples=200, deadline=None)
@given(logits=logits_rows, k_fraction=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_top_k_samples_only_among_the_k_largest_logits(logits, k_fraction, seed):
    vocab = logits.shape[-1]
    k = 1 + int(k_fraction * (vocab - 1))
    logits = logits.float()  # next_token samples in float32
    kept = torch.isfinite(filter_top_k(logits, k))[0]
    assert int(kept.sum()) == k
    assert logits[0, kept].min() >= largest(logits[0, ~kept])
    sampler = SamplerConfig(temperature=1.0, top_k=k)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(10):
        assert kept[next_token(logits, sampler, generator)[0, 0]]


@settings(max_examples=200, deadline=None)
@given(logits=logits_rows, p=st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_set_reaching_p(logits, p):
    probs = torch.softmax(logits, dim=-1)[0]
    kept = torch.isfinite(filter_top_p(logits, p))[0]
    tolerance = 1e-9
    # The kept tokens are the most likely ones, their mass reaches p...
    assert probs[kept].min() >= largest(probs[~kept])
    assert probs[kept].sum() >= p - tolerance
    # ...and dropping the least likely of them would fall short of p.
    assert probs[kept].sum() - probs[kept].min() < p + tolerance


def test_top_p_with_ties_and_p_one():
    uniform = torch.zeros(1, 4)
    assert int(torch.isfinite(filter_top_p(uniform, 0.5)).sum()) == 2
    assert int(torch.isfinite(filter_top_p(uniform, 0.51)).sum()) == 3
    tiny_tail = torch.tensor([[30.0, 0.0, -30.0, -60.0]])
    assert torch.equal(filter_top_p(tiny_tail, 1.0), tiny_tail)  # p = 1 keeps every token


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"top_k": 0}, "sampler.top_k=0"),
        ({"top_k": TINY.vocab_size + 1}, "sampler.top_k=98"),
        ({"temperature": -0.1}, "sampler.temperature=-0.1"),
        ({"top_p": 0.0}, "sampler.top_p=0.0"),
        ({"top_p": 1.5}, "sampler.top_p=1.5"),
        ({"max_new_tokens": -1}, "sampler.max_new_tokens=-1"),
        ({"eos_id": TINY.vocab_size}, "sampler.eos_id=97"),
    ],
)
def test_bad_sampler_values_are_one_line_errors(model, change, message):
    with pytest.raises(ConfigError, match=message) as err:
        generate(model, [prompt(3)], SamplerConfig(**change))
    assert "\n" not in str(err.value)


def test_bad_batch_size_is_a_one_line_error(model):
    with pytest.raises(ConfigError, match="batch_size=0 is invalid"):
        generate(model, [prompt(3)], SamplerConfig(), batch_size=0)


@pytest.mark.parametrize(("prompts", "message"), [([[]], "at least one token"), ([prompt(17)], "17 tokens")])
def test_bad_prompts_are_one_line_errors(model, prompts, message):
    with pytest.raises(ConfigError, match=message):
        generate(model, prompts, SamplerConfig())
    with pytest.raises(ConfigError, match=message):
        next(stream_tokens(model, prompts[0], SamplerConfig()))
