"""Timing measurements that a benchmark script prints as JSON."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from typing import TypeVar

import torch

from benchmarks.chapter_baseline import chapter_model_with_weights_of, generate_uncached
from gpt_experiments.devices import has_native_bf16
from gpt_experiments.inference.precision import to_inference_precision
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig

T = TypeVar("T")
BATCH_ROWS = 8
BATCHED_RUNS = {f"kv_cache_{p}_batch{BATCH_ROWS}": f"kv_cache_{p}" for p in ("bf16", "int8")}
BANDWIDTH_PROBE_MB = 256  # far larger than any CPU cache, like GPT-2 small's weights


def weight_bytes_per_token(model: GPT, dtype: torch.dtype) -> int:
    """Bytes of weights one cached step reads with ``model``'s weights in ``dtype``: every
    parameter once, but of the position table only one row (the tied token table is read
    whole by the output head). Counted on the fp32 model: packed layers hold no parameters."""
    elements = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return elements * torch.finfo(dtype).bits // 8


def read_bandwidth_gb_per_s(repeats: int = 10) -> float:
    """How fast this machine streams a buffer the size of GPT-2 small's weights from memory
    (a sum over it, on every thread), in GB/s: the roof batch-1 generation runs under."""
    buffer = torch.ones(BANDWIDTH_PROBE_MB * 2**20 // 4)
    buffer.sum()  # warm-up: the first touch maps the pages
    best = min(_timed(buffer.sum)[0] for _ in range(repeats))
    return buffer.numel() * buffer.element_size() / best / 1e9


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def benchmark_generation(
    config: GPTConfig | None = None,
    prompt_tokens: int = 64,
    new_tokens: int = 128,
    repeats: int = 2,
    seed: int = 123,
) -> dict:
    """Greedy tokens/s of the project's ``generate`` against the chapter's uncached loop.

    All runs share one randomly initialised model's weights and one prompt:

    - ``seed_chapter_fp32``: the baseline, the chapter's algorithm (``ChapterGPT`` and its uncached
      loop, re-implemented in ``chapter_baseline.py``);
    - ``seed_loop_project_model_fp32`` / ``_bf16``: the chapter's loop on the project's model,
      which isolates what the KV cache alone gains;
    - ``kv_cache_fp32`` / ``_bf16`` / ``_int8``: the project's ``generate`` (``precision=...``);
    - ``kv_cache_bf16_batch8`` / ``_int8_batch8``: eight prompts of the same length generated
      together (the first is the others' prompt); their tokens/s count all eight rows.

    Each runs ``repeats`` times, interleaved; the fastest run of each counts, so that other
    processes competing for the CPU distort the ratios as little as possible.
    """
    config = config or GPTConfig(drop_rate=0.0)
    torch.manual_seed(seed)
    model = GPT(config).eval()
    chapter_model = chapter_model_with_weights_of(model).eval()
    # What `generate precision=...` runs: on x86 CPUs fp32 and bf16 layers are oneDNN-packed.
    fp32_model = to_inference_precision(copy.deepcopy(model), "fp32")
    bf16_model = to_inference_precision(copy.deepcopy(model), "bf16")
    int8_model = to_inference_precision(copy.deepcopy(model), "int8")
    prompts = torch.randint(0, config.vocab_size, (BATCH_ROWS, prompt_tokens)).tolist()
    prompt = prompts[:1]
    sampler = SamplerConfig(max_new_tokens=new_tokens, temperature=0.0)

    def cached(net: GPT) -> Callable[[], list[int]]:
        return lambda: generate(net, prompt, sampler)[0]

    def seed_loop(net: torch.nn.Module) -> Callable[[], list[int]]:
        context = config.context_length
        return lambda: generate_uncached(net, torch.tensor(prompt), new_tokens, context)[0].tolist()

    runs = {
        "seed_chapter_fp32": seed_loop(chapter_model),
        "seed_loop_project_model_fp32": seed_loop(model),
        "kv_cache_fp32": cached(fp32_model),
        "kv_cache_bf16": cached(bf16_model),
        "kv_cache_int8": cached(int8_model),
        "seed_loop_project_model_bf16": seed_loop(bf16_model),
        # Batches of BATCH_ROWS prompts: one pass over the weights serves all rows.
        "kv_cache_bf16_batch8": lambda: generate(bf16_model, prompts, sampler)[0],
        "kv_cache_int8_batch8": lambda: generate(int8_model, prompts, sampler)[0],
    }
    rows = {name: BATCH_ROWS if name in BATCHED_RUNS else 1 for name in runs}
    for net in (model, fp32_model, bf16_model, int8_model):
        generate(net, prompt, SamplerConfig(max_new_tokens=2))  # warm-up: first calls allocate
    timings: dict[str, list[tuple[float, list[int]]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            timings[name].append(_timed(run))
    seconds = {name: min(t for t, _ in results) for name, results in timings.items()}
    tokens = {name: results[0][1] for name, results in timings.items()}

    # The memory roof: the fastest a cached step could go if it did nothing but read its weights.
    dtypes = {"kv_cache_fp32": torch.float32, "kv_cache_bf16": torch.bfloat16}
    weight_bytes = {name: weight_bytes_per_token(model, dtype) for name, dtype in dtypes.items()}
    bandwidth = read_bandwidth_gb_per_s()
    roof_tokens_per_s = {name: bandwidth * 1e9 / read for name, read in weight_bytes.items()}

    def speedups(baseline: str) -> dict[str, float]:
        cached_runs = ("kv_cache_fp32", "kv_cache_bf16", "kv_cache_int8")
        return {name: round(seconds[baseline] / seconds[name], 2) for name in cached_runs}

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
        "cpu_native_bf16": has_native_bf16(torch.device("cpu")),
        "cpu_load_average_1min": round(os.getloadavg()[0], 2),
        "tokens_per_s": {name: round(rows[name] * new_tokens / s, 2) for name, s in seconds.items()},
        "batched_tokens_per_s_vs_one_prompt": {
            batched: round(BATCH_ROWS * seconds[single] / seconds[batched], 2)
            for batched, single in BATCHED_RUNS.items()
        },
        # The figure: the project against the chapter's model and loop.
        "speedup_vs_seed_chapter": speedups("seed_chapter_fp32"),
        "speedup_vs_seed_loop_on_project_model": speedups("seed_loop_project_model_fp32"),
        "speedup_kv_cache_alone_both_bf16": round(
            seconds["seed_loop_project_model_bf16"] / seconds["kv_cache_bf16"], 2
        ),
        "memory_roof": {
            "read_gb_per_s": round(bandwidth, 1),
            "weight_mb_per_token": {name: round(read / 2**20, 1) for name, read in weight_bytes.items()},
            "tokens_per_s": {name: round(roof, 1) for name, roof in roof_tokens_per_s.items()},
            "speedup_vs_seed_chapter": {
                name: round(roof * seconds["seed_chapter_fp32"] / new_tokens, 2)
                for name, roof in roof_tokens_per_s.items()
            },
            "fraction_reached": {
                name: round(new_tokens / seconds[name] / roof, 2) for name, roof in roof_tokens_per_s.items()
            },
        },
        "same_tokens_as_seed_chapter": {
            name: tokens[name] == tokens["seed_chapter_fp32"]
            for name in runs
            if name != "seed_chapter_fp32" and name not in BATCHED_RUNS
        },
        "same_tokens_bf16_cache_vs_bf16_seed_loop": (
            tokens["kv_cache_bf16"] == tokens["seed_loop_project_model_bf16"]
        ),
    }
