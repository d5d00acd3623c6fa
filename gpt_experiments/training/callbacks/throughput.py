"""Training speed in TensorBoard and the console: tokens/s, model FLOPs utilization, peak memory."""

from __future__ import annotations

import sys
import time

import lightning as L
import torch
from lightning.fabric.utilities.throughput import get_available_flops
from lightning.pytorch.utilities import rank_zero_info

from gpt_experiments.model import GPT
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.peak_flops import datasheet_peak_flops

# Trainer precision -> the dtype matmuls run in (what the device's peak FLOP/s is quoted for).
COMPUTE_DTYPES = {"bf16-mixed": torch.bfloat16, "bf16-true": torch.bfloat16, "16-mixed": torch.float16}


def flops_per_token(model: GPT) -> int:
    """Training FLOPs per token, nanoGPT's ``estimate_mfu``: 6N for the matmuls over all
    N parameters (forward 2N, backward 4N) plus 12·L·H·Q·T for attention scores."""
    cfg = model.config
    layers, heads, head_dim = cfg.n_layers, cfg.n_heads, cfg.emb_dim // cfg.n_heads
    return 6 * model.num_parameters() + 12 * layers * heads * head_dim * cfg.context_length


def peak_memory_mb(device: torch.device) -> float:
    """Most memory held so far: CUDA's max allocated, or the process's peak RSS elsewhere."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource  # not on Windows; imported here so the module still loads there

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class SpeedMonitor(L.Callback):
    """Logs ``perf/tokens_per_sec`` (all ranks together), ``perf/mfu`` and ``perf/peak_memory_mb``.

    Measured over the last ``log_every_n_steps`` optimizer steps, with time spent in
    validation left out. MFU needs the device's peak FLOP/s: ``peak_flops_per_sec`` (per
    device), or Lightning's table of known GPUs when it is null; without either, no MFU.
    """

    def __init__(self, log_every_n_steps: int = 10, peak_flops_per_sec: float | None = None) -> None:
        self.log_every_n_steps = log_every_n_steps
        self.peak_flops_per_sec = peak_flops_per_sec
        self._flops_per_token = 0
        self._last_step = 0
        self._window_start = 0.0
        self._window_tokens = 0
        self._total_time = 0.0
        self._total_tokens = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        self._last_step = trainer.global_step
        self._flops_per_token = flops_per_token(pl_module.model)
        if self.peak_flops_per_sec is None and pl_module.device.type == "cuda":
            dtype = COMPUTE_DTYPES.get(str(trainer.precision), torch.float32)
            name = torch.cuda.get_device_name(pl_module.device)
            # Lightning's table as a fallback: it quotes some GPUs' sparse peaks (see peak_flops.py).
            fallback = get_available_flops(pl_module.device, dtype)
            self.peak_flops_per_sec = datasheet_peak_flops(name, dtype) or fallback
        self._start_window()

    def _start_window(self) -> None:
        self._window_start = time.perf_counter()
        self._window_tokens = 0

    def on_validation_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        # Validation time is not training time: bank the steps so far, restart after it.
        if self._window_tokens:
            self._total_time += time.perf_counter() - self._window_start
            self._total_tokens += self._window_tokens
            self._window_tokens = 0

    def on_validation_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        self._start_window()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: GPTLitModule, outputs, batch, batch_idx
    ) -> None:
        self._window_tokens += batch[0].numel() * trainer.world_size
        # Only after an optimizer step (not mid-accumulation), every log_every_n_steps of them.
        stepped = trainer.global_step != self._last_step
        self._last_step = trainer.global_step
        if stepped and trainer.global_step % self.log_every_n_steps == 0:
            self._log_window(trainer, pl_module)

    def _log_window(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()  # kernels are asynchronous: wait, so the clock is honest
        elapsed = time.perf_counter() - self._window_start
        self._total_time += elapsed
        self._total_tokens += self._window_tokens
        tokens_per_sec = self._window_tokens / elapsed
        pl_module.log("perf/tokens_per_sec", tokens_per_sec, on_step=True, on_epoch=False, prog_bar=True)
        pl_module.log("perf/peak_memory_mb", peak_memory_mb(pl_module.device), on_step=True, on_epoch=False)
        if self.peak_flops_per_sec:
            achieved = tokens_per_sec * self._flops_per_token / trainer.world_size
            pl_module.log("perf/mfu", achieved / self.peak_flops_per_sec, on_step=True, on_epoch=False)
        self._start_window()

    @property
    def measured_tokens(self) -> int:
        """Training tokens inside the timed windows so far (validation excluded, no token lost)."""
        return self._total_tokens

    def on_train_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        if self._total_time:
            rank_zero_info(
                f"Throughput: {self._total_tokens / self._total_time:,.0f} tokens/s over "
                f"{self._total_tokens:,} tokens; peak memory {peak_memory_mb(pl_module.device):,.0f} MB"
            )
