"""Generation tokens/s of the project's ``generate`` (greedy), with or without the KV cache."""

from __future__ import annotations

import time
from typing import Any

import torch

from gpt_experiments.benchmarking.measure import peak_rss_mb
from gpt_experiments.generation import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer import encode


def measure_generation(
    model: dict[str, Any], new_tokens: int, use_cache: bool, prompt: str = "Every effort moves you"
) -> dict[str, Any]:
    torch.manual_seed(123)
    gpt = GPT(GPTConfig(**model)).eval()
    prompt_ids = encode(prompt)
    generate(gpt, [prompt_ids], SamplerConfig(max_new_tokens=2), use_cache)  # warm up kernels
    start = time.perf_counter()
    generate(gpt, [prompt_ids], SamplerConfig(max_new_tokens=new_tokens), use_cache)
    elapsed = time.perf_counter() - start
    return {
        "use_cache": use_cache,
        "new_tokens": new_tokens,
        "tokens_per_sec": new_tokens / elapsed,
        "peak_rss_mb": peak_rss_mb(),
    }
