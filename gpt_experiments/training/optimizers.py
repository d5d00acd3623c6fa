"""Building the configured optimizer: weight decay on matrices only, fused kernels where torch has them.

One function for every place that builds it: the LightningModule, the checks before a run
(``run_checks``: a value torch refuses is refused before any folder exists) and the
benchmarks' plain loop, so they all get the same parameter groups.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import get_class, instantiate
from torch import nn

from gpt_experiments.training.muon import MuonWithAdamW, muon_parameter_groups


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices (linear weights, embeddings); leave biases and LayerNorm gains undecayed."""
    decay, no_decay = [], []
    for param in model.parameters():  # shared (tied) tensors are listed once
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# Device types with a fused (single-kernel) AdamW in torch.
FUSED_DEVICE_TYPES = ("cuda", "cpu")


def build_optimizer(model: nn.Module, spec: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer a Hydra ``_target_`` spec names, over :func:`parameter_groups` of ``model``.

    ``fused: auto`` turns on the fused kernel when every parameter is on a device that has
    one; an explicit ``true``/``false`` is passed through. Muon (``optimizer=muon``) takes the
    blocks' matrices and leaves the rest to its AdamW (:mod:`gpt_experiments.training.muon`).
    """
    spec = dict(spec)
    weight_decay = float(spec.pop("weight_decay", 0.0))
    if issubclass(get_class(spec["_target_"]), MuonWithAdamW):
        adamw_decay = float((spec.get("adamw") or {}).get("weight_decay", 0.0))
        return instantiate(
            spec, params=muon_parameter_groups(model, weight_decay, adamw_decay), _convert_="all"
        )
    if spec.get("fused") == "auto":
        spec["fused"] = all(p.device.type in FUSED_DEVICE_TYPES for p in model.parameters())
    return instantiate(spec, params=parameter_groups(model, weight_decay), _convert_="all")


def unscales_in_step(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer divides out an AMP loss scale inside its own step (fused kernels do)."""
    return getattr(optimizer, "_step_supports_amp_scaling", False)


def clip_gradients(
    optimizer: torch.optim.Optimizer, max_value: float, algorithm: str, scaler: torch.amp.GradScaler | None
) -> None:
    """Clip the gradients of ``optimizer``'s parameters by global norm (or by ``value``).

    Lightning refuses to clip for an optimizer that unscales inside its step, the fused AdamW
    that is the default here, even under bf16-mixed, which has no loss scale at all. That
    refusal only matters with a scaler (16-mixed): the gradients would still be scaled when
    clipped. So unscale them first; torch's ``GradScaler.step`` knows a fused optimizer's
    gradients may already be unscaled and then steps without dividing again. The fused kernel
    stays on (it is the faster step) and every precision clips the true gradients.
    """
    if scaler is not None and unscales_in_step(optimizer):
        scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, max_value)
    else:
        torch.nn.utils.clip_grad_norm_(params, max_value)
