"""``optimizer=muon``: torch's Muon for the blocks' weight matrices, AdamW for the rest, as one
optimizer that Lightning steps, schedules and checkpoints like any other.

Muon orthogonalises each matrix's update (Newton-Schulz iterations), which is meant for the
hidden matrices of the transformer blocks; the token embedding, the output head, the norms
and the biases stay on AdamW (the split of the GPT-2 speedrun records). The fused query/key/
value projection is orthogonalised as one matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# Parameter names under this prefix are the transformer blocks (model.GPT.h).
BLOCKS_PREFIX = "h."


def muon_parameter_groups(model: nn.Module, weight_decay: float, adamw_weight_decay: float) -> list[dict]:
    """Three groups: the blocks' matrices (Muon), other matrices (AdamW, decayed), and vectors
    (AdamW, not decayed). Each group says which optimizer takes it (``muon``)."""
    muon, adamw_decay, adamw_no_decay = [], [], []
    for name, param in model.named_parameters():  # a tied head is the embedding, listed once
        if not param.requires_grad:
            continue
        if param.dim() == 2 and name.startswith(BLOCKS_PREFIX):
            muon.append(param)
        else:
            (adamw_decay if param.dim() >= 2 else adamw_no_decay).append(param)
    groups = [
        {"params": muon, "muon": True, "weight_decay": weight_decay},
        {"params": adamw_decay, "muon": False, "weight_decay": adamw_weight_decay},
        {"params": adamw_no_decay, "muon": False, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


class MuonWithAdamW(torch.optim.Optimizer):
    """Two optimizers behind one: the groups flagged ``muon`` go to :class:`torch.optim.Muon`,
    the others to :class:`torch.optim.AdamW` (settings in ``adamw``: its own lr, betas...).

    Both inner optimizers hold the very group dicts of this one, so a learning-rate schedule
    that scales this optimizer's groups scales both. Their state lives in them, and
    :meth:`state_dict` saves both, so a run resumes exactly.
    """

    def __init__(
        self,
        params: list[dict[str, Any]],
        lr: float = 0.02,
        weight_decay: float = 0.0,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = "original",
        adamw: dict[str, Any] | None = None,
    ) -> None:
        adamw = adamw_group_defaults(adamw or {})
        for group in params:  # each group's own lr, so the right optimizer's default reaches it
            group.setdefault("lr", lr if group["muon"] else adamw.get("lr", 1e-3))
        super().__init__(params, defaults={})
        muon_groups = [group for group in self.param_groups if group["muon"]]
        adamw_groups = [group for group in self.param_groups if not group["muon"]]
        muon_settings = {"momentum": momentum, "nesterov": nesterov, "ns_steps": ns_steps}
        self.inner: list[torch.optim.Optimizer] = []
        if muon_groups:
            muon = torch.optim.Muon(
                muon_groups, lr=lr, weight_decay=weight_decay, adjust_lr_fn=adjust_lr_fn, **muon_settings
            )
            self.inner.append(muon)
        if adamw_groups:
            self.inner.append(torch.optim.AdamW(adamw_groups, **adamw))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:  # Lightning's closure runs the forward and backward passes
            with torch.enable_grad():
                loss = closure()
        for optimizer in self.inner:
            optimizer.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"inner": [optimizer.state_dict() for optimizer in self.inner]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("inner")
        if not isinstance(saved, list) or len(saved) != len(self.inner):
            raise ValueError("the saved optimizer state is not a MuonWithAdamW state of the same parameters")
        for optimizer, state in zip(self.inner, saved, strict=True):
            optimizer.load_state_dict(state)


def adamw_group_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """AdamW's settings for its groups; the groups' own weight decay wins over a default one."""
    settings = dict(settings)
    settings.pop("weight_decay", None)  # set per group by muon_parameter_groups
    if "betas" in settings:
        settings["betas"] = tuple(settings["betas"])
    return settings
