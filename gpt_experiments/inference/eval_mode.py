"""Scoring and generating switch dropout off, and give the model back in the caller's mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode inside the block; its own mode (training or not) restored after,
    also when the block raises, so a callback that generates mid-training leaves dropout on."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
