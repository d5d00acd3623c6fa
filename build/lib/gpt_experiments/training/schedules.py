"""Learning-rate schedules as multipliers of the optimizer's base learning rate."""

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


def build_scheduler(optimizer: Optimizer, name: str, total_steps: int, **options: float) -> LambdaLR:
    """A per-step ``LambdaLR`` for the schedule ``name`` ("constant" or "warmup_cosine")."""
    if name == "constant":
        return LambdaLR(optimizer, constant)
    if name == "warmup_cosine":
        warmup_steps = int(options.get("warmup_steps", 0))
        min_lr_ratio = float(options.get("min_lr_ratio", 0.1))
        if warmup_steps < 0 or not 0 <= min_lr_ratio <= 1:
            raise ConfigError(
                f"scheduler warmup_steps={warmup_steps}, min_lr_ratio={min_lr_ratio} are invalid: "
                "warmup_steps must be >= 0 and min_lr_ratio in [0, 1]"
            )
        schedule = partial(
            warmup_cosine, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
        )
        return LambdaLR(optimizer, schedule)
    raise ConfigError(f"scheduler.name={name!r} is unknown: use 'constant' or 'warmup_cosine'")
