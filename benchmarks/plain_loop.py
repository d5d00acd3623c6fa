"""The project's training step written as a plain PyTorch loop, without Lightning.

Same model, loss, optimizer and mixed precision as :class:`GPTLitModule` under the
Trainer. The benchmark times it to show the Trainer's overhead, and a test checks that
both give the same loss curve, so the framework never changes results silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from gpt_experiments.training.host_memory import reuse_freed_host_memory


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast Lightning's ``precision`` setting applies around the forward pass."""
    if precision == "32-true":
        return contextlib.nullcontext()
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision={precision!r}: the plain loop supports '32-true' and 'bf16-mixed'")


def plain_training_steps(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    precision: str = "32-true",
    gradient_clip_val: float | None = None,
) -> Iterator[torch.Tensor]:
    """Train on ``batches``, one optimizer step each; yields each step's (detached) loss."""
    device = next(model.parameters()).device
    if device.type == "cpu":
        reuse_freed_host_memory()  # as GPTLitModule.configure_model does
    # In the optimizer's order, as Lightning clips: the norm's float sum depends on the order.
    params = [p for group in optimizer.param_groups for p in group["params"]]
    model.train()
    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)
        with autocast(precision, device):
            loss = model(inputs, targets=targets)
        loss.backward()
        if gradient_clip_val is not None:
            nn.utils.clip_grad_norm_(params, gradient_clip_val)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()
        yield loss.detach()
