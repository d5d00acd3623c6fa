"""Int8 layers for CPU generation: a quarter of fp32's bytes per weight.

A cached generation step reads every weight once for a handful of multiply-adds, so bytes
read set its speed. :class:`Int8Linear` stores each weight row as int8 with one fp32 scale
per output feature (symmetric, absmax / 127), packed once for FBGEMM, PyTorch's x86 int8
kernels. Each call quantizes its input rows to 8 bits (7 on CPUs without VNNI) on the fly,
one scale per call from their range, multiplies in integers and returns fp32: both the
weights' and the inputs' rounding change the result, which is why int8 is opt-in.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def int8_kernels_available() -> bool:
    """Whether this torch build has FBGEMM's dynamic int8 linear (x86 CPUs)."""
    return "fbgemm" in torch.backends.quantized.supported_engines


def quantize_rows(weight: torch.Tensor) -> torch.Tensor:
    """Symmetric per-row int8: one scale per output feature, the row's absmax / 127."""
    weight = weight.detach().float()
    # A row of zeros gets scale 1 (any positive scale reproduces it exactly) instead of 0/0.
    scale = weight.abs().amax(dim=1) / 127
    scale = torch.where(scale > 0, scale, torch.ones_like(scale)).double()
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():
        # Quantized tensors are deprecated in favour of torchao, but FBGEMM's packing still
        # takes one; the warning is for PyTorch's maintainers' users, not ours to act on.
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return torch.quantize_per_channel(weight, scale, zero_points, axis=0, dtype=torch.qint8)


def _needs_reduced_range() -> bool:
    """Without VNNI, FBGEMM sums pairs of 8-bit products in saturating int16, which full-range
    inputs can overflow; 7-bit inputs cannot (at twice the input rounding error)."""
    probe = getattr(torch.cpu, "_is_vnni_supported", None)  # private, absent in some builds
    return not (probe is not None and probe())


_REDUCE_RANGE = _needs_reduced_range()


class Int8Linear(nn.Module):
    """An inference-only ``nn.Linear`` with int8 weights and dynamically quantized inputs.

    Like the bf16 ``PackedLinear``, it holds an opaque packed weight that a state dict leaves
    out: train and save the fp32 model, and load it again to change precision.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        bias = None if linear.bias is None else linear.bias.detach().float()
        # The packed weight is a torch ScriptObject, not a tensor, so it is a plain attribute.
        self.packed = torch.ops.quantized.linear_prepack(quantize_rows(linear.weight), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, _REDUCE_RANGE)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8, FBGEMM-packed"
