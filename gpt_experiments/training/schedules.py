"""Learning-rate schedules as multipliers of the optimizer's base learning rate.

Each ``*_schedule`` factory is what a ``conf/scheduler/*.yaml`` names as ``_target_``: it
takes the optimizer and the run's number of optimizer steps (filled in by
``GPTLitModule.configure_optimizers``), then its own settings, and returns a per-step
``LambdaLR``.
"""

from __future__ import annotations

import math
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from gpt_experiments.errors import ConfigError


def constant(step: int) -> float:
    return 1.0


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Linear warmup to the base rate, then cosine decay to ``min_lr_ratio`` of it."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def constant_schedule(optimizer: Optimizer, total_steps: int) -> LambdaLR:
    """The base learning rate at every step."""
    return LambdaLR(optimizer, constant)


def warmup_cosine_schedule(
    optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.1
) -> LambdaLR:
    """:func:`warmup_cosine` over ``total_steps`` optimizer steps."""
    if warmup_steps < 0 or not 0 <= min_lr_ratio <= 1:
        raise ConfigError(
            f"scheduler warmup_steps={warmup_steps}, min_lr_ratio={min_lr_ratio} are invalid: "
            "warmup_steps must be >= 0 and min_lr_ratio in [0, 1]"
        )
    schedule = partial(
        warmup_cosine, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
    )
    return LambdaLR(optimizer, schedule)
