"""Timing measurements that a benchmark script prints as JSON."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from gpt_experiments.generation import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig


def seed_generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
) -> torch.Tensor:
    """The seed chapter's ``generate`` loop, kept as the baseline: it reruns the whole
    context through the model for every new token (no KV cache)."""
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]
        with torch.no_grad():
            logits = model(idx_cond)
        logits = logits[:, -1, :]
        if top_k is not None:
            top_logits, _ = torch.topk(logits, top_k)
            min_val = top_logits[:, -1, None]  # the seed's [:, -1] only broadcasts for batch 1
            logits = torch.where(logits < min_val, torch.tensor(float("-inf")).to(logits.device), logits)
        if temperature > 0.0:
            probs = torch.softmax(logits / temperature, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def _timed(fn: Callable[[], list[int]]) -> tuple[float, list[int]]:
    start = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - start, tokens


def benchmark_generation(
    config: GPTConfig | None = None,
    prompt_tokens: int = 64,
    new_tokens: int = 128,
    repeats: int = 2,
    seed: int = 123,
) -> dict:
    """Greedy tokens/s of the project's ``generate`` against the seed's uncached loop.

    Both run the same randomly initialised model on the same prompt, alternately,
    ``repeats`` times each; the fastest run of each counts, so that other processes
    competing for the CPU distort the ratio as little as possible.
    """
    config = config or GPTConfig(drop_rate=0.0)
    torch.manual_seed(seed)
    model = GPT(config).eval()
    prompt = torch.randint(0, config.vocab_size, (1, prompt_tokens)).tolist()
    sampler = SamplerConfig(max_new_tokens=new_tokens, temperature=0.0)
    generate(model, prompt, SamplerConfig(max_new_tokens=2))  # warm-up: first calls allocate

    def ours() -> list[int]:
        return generate(model, prompt, sampler)[0]

    def seed_loop() -> list[int]:
        return seed_generate(model, torch.tensor(prompt), new_tokens, config.context_length)[0].tolist()

    ours_runs, seed_runs = [], []
    for _ in range(repeats):
        ours_runs.append(_timed(ours))
        seed_runs.append(_timed(seed_loop))
    ours_s, seed_s = min(t for t, _ in ours_runs), min(t for t, _ in seed_runs)
    return {
        "benchmark": "generation",
        "model": {
            "n_layers": config.n_layers,
            "emb_dim": config.emb_dim,
            "n_heads": config.n_heads,
            "context_length": config.context_length,
            "parameters": model.num_parameters(),
        },
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "sampler": "greedy",
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "cpu_load_average_1min": round(os.getloadavg()[0], 2),
        "kv_cache_tokens_per_s": round(new_tokens / ours_s, 2),
        "seed_uncached_tokens_per_s": round(new_tokens / seed_s, 2),
        "speedup": round(seed_s / ours_s, 2),
        "same_tokens": ours_runs[0][1] == seed_runs[0][1],
    }
