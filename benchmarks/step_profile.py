"""Where one training step's time goes, and how far it is from this machine's peak.

One step of the project's training loop (the plain loop's step, which is Lightning's step
without the framework; the train section measures Lightning's own share) runs under
``torch.profiler``. Every operator's *self* time is put in exactly one bucket, so the
buckets add up to the step's operator time:

- by phase: the ``record_function`` range it ran in (data, forward, backward, optimizer);
- by part: what it computes, from its name, the ranges above it and its input shapes
  (the output head is the only matrix product with a ``vocab``-wide dimension).

Achieved FLOP/s divides the model's matrix-product FLOPs (the usual count: forward 2 per
weight per token plus attention's two products, backward twice the forward) by the step's
wall time, against the peak of a large matrix product measured in the same process, so
a busy machine lowers both.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from benchmarks.plain_loop import autocast
from benchmarks.training_speed import TrainSetup, optimizer_spec, project_data
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.host_memory import reuse_freed_host_memory
from gpt_experiments.training.optimizers import build_optimizer

PHASES = ("data", "forward", "backward", "optimizer")
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::matmul", "aten::linear")
# Substrings of an operator's name or of a range above it -> part. Checked in this order:
# the head first (its range holds matrix products too), then attention (SDPA's math
# path, used in training because the fused CPU kernel has no dropout, runs bmm and softmax).
PART_MARKERS = (
    ("output_head", ("head_cross_entropy", "headcrossentropy", "cross_entropy", "log_softmax", "nll_loss")),
    ("attention", ("scaled_dot_product", "flash_attention", "bmm", "softmax", "tril", "masked_fill")),
    ("layernorm", ("layer_norm", "layernorm")),
    ("gelu", ("gelu",)),
    ("dropout", ("dropout", "bernoulli")),
    ("embedding", ("embedding",)),
)


def peak_matmul_flops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large square matrix product: what this CPU reaches under the current load."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # first call picks kernels and allocates
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def model_flops(cfg: GPTConfig, batch: int, seq: int) -> dict[str, float]:
    """Matrix-product FLOPs of one training step, by part (forward + backward = 3x forward)."""
    tokens = batch * seq
    d = cfg.emb_dim
    per_layer_weights = 3 * d * d + d * d + 2 * (4 * d * d)  # qkv, attention out, MLP in and out
    body = 2 * tokens * cfg.n_layers * per_layer_weights
    head = 2 * tokens * d * cfg.padded_vocab_size
    # Q K^T and attention x V; causal attention needs about half of each square product.
    attention = 2 * 2 * batch * seq * seq * d * cfg.n_layers / 2
    return {"matmul": 3 * body, "output_head": 3 * head, "attention": 3 * attention}


def _part(event, vocab: int) -> str:
    """Which part of the model an operator's self time belongs to."""
    names = []
    node = event
    while node is not None:
        names.append(node.name.lower())
        node = node.cpu_parent
    chain = " ".join(names)
    for part, markers in PART_MARKERS:
        if any(marker in chain for marker in markers):
            return part
    if event.name in MATMUL_OPS or "mkldnn_linear" in event.name:
        # Only the output head multiplies by a vocab-wide matrix.
        return "output_head" if str(vocab) in str(event.input_shapes) else "matmul"
    if "tocopybackward" in chain or event.name in ("aten::_to_copy", "aten::copy_"):
        return "casts_and_copies"
    return "other"


def _phase(event) -> str:
    node = event
    while node is not None:
        if node.name in PHASES:
            return node.name
        node = node.cpu_parent
    return "other"


def profile_training_step(
    model: dict[str, Any],
    precision: str,
    batch_size: int,
    warmup_steps: int = 2,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Profile one training step after ``warmup_steps`` (which allocate optimizer state)."""
    setup = TrainSetup(
        variant="plain", model=model, precision=precision, batch_size=batch_size, cache_dir=cache_dir
    )
    torch.manual_seed(setup.seed)
    cfg = GPTConfig(**model)
    net = GPT(cfg)
    optimizer = build_optimizer(net, optimizer_spec(setup))
    batches = iter(project_data(setup).train_dataloader())
    device = torch.device("cpu")
    reuse_freed_host_memory()  # as CPU training does (GPTLitModule.configure_model)
    net.train()

    def step(ranges: bool) -> dict[str, float]:
        scope = record_function if ranges else (lambda _: contextlib.nullcontext())
        walls = {}
        start = time.perf_counter()
        with scope("data"):
            inputs, targets = next(batches)
        walls["data"] = time.perf_counter() - start
        with scope("forward"), autocast(precision, device):
            loss = net(inputs, targets=targets)
        walls["forward"] = time.perf_counter() - start - sum(walls.values())
        with scope("backward"):
            loss.backward()
        walls["backward"] = time.perf_counter() - start - sum(walls.values())
        with scope("optimizer"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        walls["optimizer"] = time.perf_counter() - start - sum(walls.values())
        return walls

    for _ in range(warmup_steps):
        step(ranges=False)
    unprofiled = step(ranges=False)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        walls = step(ranges=True)
    self_us: dict[tuple[str, str], float] = defaultdict(float)
    for event in prof.events():
        if event.name in PHASES:
            continue
        phase = _phase(event)
        part = phase if phase in ("data", "optimizer") else _part(event, cfg.padded_vocab_size)
        self_us[(phase, part)] += event.self_cpu_time_total
    step_s = sum(unprofiled.values())
    by_part: dict[str, float] = defaultdict(float)
    by_phase_part: dict[str, dict[str, float]] = defaultdict(dict)
    for (phase, part), us in sorted(self_us.items()):
        by_part[part] += us / 1e6
        by_phase_part[phase][part] = round(us / 1e6, 4)
    largest_first = sorted(by_part.items(), key=lambda kv: -kv[1])
    flops = model_flops(cfg, batch_size, cfg.context_length)
    peaks = {str(dtype): peak_matmul_flops(dtype) for dtype in (torch.float32, torch.bfloat16)}
    # Under bf16-mixed the matrix products run in bf16, so that is the peak to compare with.
    peak = peaks["torch.bfloat16" if precision == "bf16-mixed" else "torch.float32"]
    achieved = sum(flops.values()) / step_s
    return {
        "precision": precision,
        "torch_threads": torch.get_num_threads(),
        "cpu_load_average_1min": round(os.getloadavg()[0], 2),
        "step_seconds_unprofiled": round(step_s, 4),
        "phase_seconds_unprofiled": {k: round(v, 4) for k, v in unprofiled.items()},
        "phase_seconds_profiled": {k: round(v, 4) for k, v in walls.items()},
        "part_seconds": {k: round(v, 4) for k, v in largest_first},
        "part_share": {k: round(v / sum(by_part.values()), 3) for k, v in largest_first},
        "phase_part_seconds": by_phase_part,
        "step_gflop": round(sum(flops.values()) / 1e9, 1),
        "part_gflop": {k: round(v / 1e9, 1) for k, v in flops.items()},
        "part_gflops_per_s": {k: round(flops[k] / by_part[k] / 1e9, 1) for k in flops if by_part.get(k)},
        "achieved_gflops_per_s": round(achieved / 1e9, 1),
        "peak_matmul_gflops_per_s": {dtype: round(value / 1e9, 1) for dtype, value in peaks.items()},
        "fraction_of_peak": round(achieved / peak, 3),
        # Lightning's own share is the train section's lightning_overhead_vs_plain_loop.
    }
