"""What the machine's devices can do, asked once by training, generation and the configs."""

from __future__ import annotations

import platform

import torch

# Lightning precision -> the dtype matrix products run in (what a device's peak FLOP/s is quoted
# for; for the "-mixed" ones, the dtype their autocast computes in).
COMPUTE_DTYPES = {"bf16-mixed": torch.bfloat16, "bf16-true": torch.bfloat16, "16-mixed": torch.float16}


def has_native_bf16(device: torch.device) -> bool:
    """Whether ``device`` has bf16 arithmetic units; where bf16 is emulated, fp32 is faster."""
    if device.type == "cuda":
        # Ampere (compute capability 8) and later; is_bf16_supported() also counts emulation.
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        # x86 AVX512-BF16 or AMX. These probes are private torch helpers, absent in some builds.
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return onednn_packing_available() and any(getattr(torch.cpu, p, lambda: False)() for p in probes)
    return False


def onednn_packing_available(dtype: torch.dtype = torch.bfloat16) -> bool:
    """Whether this torch build and CPU can run the oneDNN ops :class:`PackedLinear` calls in
    ``dtype`` (bf16 needs AVX512: older CPUs fall back to plain bf16 layers, slow but working;
    fp32 is packed on x86 only, where it was measured to pay)."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")):
        return False
    if dtype == torch.float32:
        return platform.machine().lower() in ("x86_64", "amd64")
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()
