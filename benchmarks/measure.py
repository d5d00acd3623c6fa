"""Clocks and memory readings shared by the benchmarks."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator

import lightning as L
import torch


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def minor_page_faults() -> int:
    """Pages this process has faulted in so far without reading a disk (fresh or reclaimed memory)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed_step(steps: Iterator[torch.Tensor]) -> tuple[float, float]:
    """(seconds, loss) of a training loop's next step; reading the loss waits for the step (and
    on a GPU for everything queued before it) to finish."""
    started = time.perf_counter()
    loss = next(steps).item()
    return time.perf_counter() - started, loss


def steady_tokens_per_sec(step_ends: list[float], warmup_steps: int, tokens_per_step: int) -> float:
    """Tokens per second over the steps after ``warmup_steps`` (first steps allocate and warm caches)."""
    timed = len(step_ends) - warmup_steps
    if warmup_steps < 1 or timed < 1:
        raise ValueError("need at least one warmup step and one timed step")
    return timed * tokens_per_step / (step_ends[-1] - step_ends[warmup_steps - 1])


class StepClock(L.Callback):
    """Records when each training batch ends, for :func:`steady_tokens_per_sec`."""

    def __init__(self) -> None:
        self.step_ends: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.step_ends.append(time.perf_counter())
