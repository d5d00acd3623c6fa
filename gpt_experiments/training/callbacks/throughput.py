"""Training speed in TensorBoard and the console: tokens/s, model FLOPs utilization, peak memory."""

from __future__ import annotations

import sys
import time

import lightning as L
import torch
from lightning.fabric.utilities.throughput import get_available_flops

from gpt_experiments.devices import COMPUTE_DTYPES
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.peak_flops import datasheet_peak_flops


def peak_memory_mb(device: torch.device) -> float:
    """Most memory held so far: CUDA's max allocated, or the process's peak RSS elsewhere."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource  # not on Windows; imported here so the module still loads there

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class SpeedMonitor(L.Callback):
    """The run's one throughput: training tokens / training wall time, all ranks together.

    The clock runs while training batches run and stops for validation, text samples and
    anything else between epochs. Every ``log_every_n_steps`` optimizer steps (the trainer's
    interval when None) the run's average so far is logged as ``perf/tokens_per_sec`` and
    ``run/tokens_per_sec`` (the HParams metric) and shown as ``tokens/s`` in the progress bar,
    with ``perf/mfu`` and ``perf/peak_memory_mb``; the end of training logs the final average,
    which compare_runs and the run's summary report. MFU needs the device's peak FLOP/s:
    ``peak_flops_per_sec`` (per device), or Lightning's table of known GPUs when it is null.
    """

    def __init__(self, log_every_n_steps: int | None = None, peak_flops_per_sec: float | None = None) -> None:
        self.log_every_n_steps = log_every_n_steps
        self.peak_flops_per_sec = peak_flops_per_sec
        self._flops_per_token = 0
        self._last_step = 0
        self._window_start: float | None = None  # None: the clock is stopped
        self._window_tokens = 0
        self._total_time = 0.0
        self._total_tokens = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        self._last_step = trainer.global_step
        self._flops_per_token = pl_module.flops_per_token  # model_flops.py's count, made once by the module
        if self.peak_flops_per_sec is None and pl_module.device.type == "cuda":
            dtype = COMPUTE_DTYPES.get(str(trainer.precision), torch.float32)
            name = torch.cuda.get_device_name(pl_module.device)
            # Lightning's table as a fallback: it quotes some GPUs' sparse peaks (see peak_flops.py).
            fallback = get_available_flops(pl_module.device, dtype)
            self.peak_flops_per_sec = datasheet_peak_flops(name, dtype) or fallback

    def _start_clock(self) -> None:
        self._window_start = time.perf_counter()
        self._window_tokens = 0

    def _stop_clock(self, pl_module: GPTLitModule) -> None:
        """Bank the time since the clock started, if a training batch ran in it."""
        if self._window_start is not None and self._window_tokens:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize()  # kernels are asynchronous: wait, so the clock is honest
            self._total_time += time.perf_counter() - self._window_start
            self._total_tokens += self._window_tokens
        self._window_start = None
        self._window_tokens = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: GPTLitModule, batch, batch_idx) -> None:
        if self._window_start is None:  # first batch after a start, a validation or an epoch end
            self._start_clock()

    def on_validation_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        self._stop_clock(pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        self._stop_clock(pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: GPTLitModule, outputs, batch, batch_idx
    ) -> None:
        self._window_tokens += batch[0].numel() * trainer.world_size
        # Only after an optimizer step (not mid-accumulation), every log_every_n_steps of them.
        stepped = trainer.global_step != self._last_step
        self._last_step = trainer.global_step
        interval = self.log_every_n_steps or trainer.log_every_n_steps
        if stepped and trainer.global_step % interval == 0:
            self._log(pl_module, trainer.world_size)

    def _log(self, pl_module: GPTLitModule, world_size: int) -> None:
        self._stop_clock(pl_module)  # banks the window, so the average is up to this step
        self._start_clock()
        tokens_per_sec = self.tokens_per_sec
        pl_module.log("perf/tokens_per_sec", tokens_per_sec, on_step=True, on_epoch=False)
        pl_module.log("tokens/s", tokens_per_sec, on_step=True, on_epoch=False, prog_bar=True, logger=False)
        pl_module.log("run/tokens_per_sec", tokens_per_sec, on_step=True, on_epoch=False)
        pl_module.log("perf/peak_memory_mb", peak_memory_mb(pl_module.device), on_step=True, on_epoch=False)
        if self.peak_flops_per_sec:
            achieved = tokens_per_sec * self._flops_per_token / world_size
            pl_module.log("perf/mfu", achieved / self.peak_flops_per_sec, on_step=True, on_epoch=False)

    @property
    def measured_tokens(self) -> int:
        """Training tokens inside the timed windows so far (validation excluded, no token lost)."""
        return self._total_tokens

    @property
    def training_time_s(self) -> float:
        return self._total_time

    @property
    def tokens_per_sec(self) -> float:
        """Training tokens / training seconds over the run so far (NaN before any step)."""
        return self._total_tokens / self._total_time if self._total_time else float("nan")

    def on_train_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        self._stop_clock(pl_module)
        if not self._total_time:
            return
        for logger in trainer.loggers:  # self.log is not allowed here; the loggers still are
            logger.log_metrics({"run/tokens_per_sec": self.tokens_per_sec}, step=trainer.global_step)
