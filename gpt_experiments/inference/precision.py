"""Generation in bfloat16 (or int8): fewer bytes per weight, and bytes are what a token costs.

Generating one token with a KV cache reads every weight once and does little arithmetic
with each, so its speed is set by memory bandwidth, not FLOPs: bf16 weights halve the
traffic. On CPUs, PyTorch's plain bf16 ``linear`` re-lays out the weight for oneDNN on
every call, which eats the gain; :class:`PackedLinear` does that reordering once, when
the model is prepared. fp32 layers get the same treatment on x86 CPUs: oneDNN's packed
fp32 kernel reads a one-row product's weights 1.3-2x faster than ``F.linear``'s
(docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NoReturn

import torch
from torch import nn

from gpt_experiments.devices import has_native_bf16, onednn_packing_available
from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.int8 import Int8Linear, int8_kernels_available
from gpt_experiments.model import GPT

PRECISIONS = ("auto", "fp32", "bf16", "int8")


def resolve_precision(name: str, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``int8``; ``auto`` is bf16 where ``device`` computes it in hardware.

    int8 is opt-in, never ``auto``'s choice: it changes greedy text more than bf16 does.
    """
    if name not in PRECISIONS:
        raise ConfigError(f"precision={name!r} is unknown: use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if has_native_bf16(device) else "fp32"
    return name


class PackedLinear(nn.Module):
    """A bf16 or fp32 ``nn.Linear`` for CPU inference whose weight is laid out once for oneDNN.

    The packed weight is an opaque oneDNN tensor held as a buffer, not a parameter: the
    layer cannot be trained, copied, saved (it adds nothing to a state dict), counted by
    ``num_parameters`` or moved to another dtype or device. Load the checkpoint again instead.
    """

    def __init__(self, linear: nn.Linear, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.in_features, self.out_features, self.dtype = linear.in_features, linear.out_features, dtype
        weight = linear.weight.detach().to(dtype)
        # The batch-size hint 1 suits decoding, where each step multiplies one row per sequence.
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
        self.register_buffer("packed_weight", packed, persistent=False)
        bias = None if linear.bias is None else linear.bias.detach().to(dtype)
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, "none", [], "")

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> NoReturn:
        # .to()/.float()/.cuda() end here; the opaque packed tensor would fail deep inside oneDNN.
        raise RuntimeError(
            "a model prepared for inference with oneDNN-packed layers cannot change dtype or "
            "device: load the checkpoint again with the precision and device you want"
        )

    def extra_repr(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        return f"in_features={self.in_features}, out_features={self.out_features}, {dtype}, oneDNN-packed"


def to_inference_precision(model: GPT, precision: str, pack: bool = True) -> GPT:
    """Convert ``model`` in place for inference at ``fp32``, ``bf16`` or ``int8``.

    On the CPU, fp32 and bf16 models get :class:`PackedLinear` layers (unless ``pack`` is
    False), an int8 one :class:`~gpt_experiments.inference.int8.Int8Linear` layers (in all,
    the tied output head gets its own copy; the embedding table stays for lookups), so it
    is for inference only: train and save the unconverted fp32 model. Elsewhere fp32 models
    are left as they are and bf16 ones cast. A model for ``torch.compile`` needs
    ``pack=False``: inductor cannot lower the packed layers' opaque oneDNN weights.
    """
    if precision not in ("fp32", "bf16", "int8"):
        raise ConfigError(f"precision={precision!r} is unknown here: use fp32, bf16 or int8")
    on_cpu = next(model.parameters()).device.type == "cpu"
    if precision == "int8" and not (on_cpu and int8_kernels_available()):
        raise ConfigError("precision=int8 runs on the CPU only: use device=cpu, or precision=bf16 or fp32")
    model.requires_grad_(False)
    if precision == "int8":
        # The rest (embeddings, LayerNorms, attention over the cache) stays fp32: it is small.
        _replace_linears(model, Int8Linear)
        return model
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model.to(dtype)
    if pack and on_cpu and onednn_packing_available(dtype):
        _replace_linears(model, partial(PackedLinear, dtype=dtype))
    return model


def inference_view(model: GPT, precision: str) -> GPT:
    """``model`` converted as by :func:`to_inference_precision`, leaving ``model`` itself
    trainable: the view shares its fp32 tensors (the embeddings, LayerNorms) instead of
    copying them, and only the packed layers hold copies. For generating during training,
    where packed layers pay for themselves within a few tokens."""
    view = GPT.from_weights(model.config, model.state_dict())
    return to_inference_precision(view.eval(), precision)


def _replace_linears(module: nn.Module, layer: Callable[[nn.Linear], nn.Module]) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, layer(child))
        else:
            _replace_linears(child, layer)
