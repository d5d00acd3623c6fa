"""Peak dense FLOP/s per GPU, from the vendors' datasheets, for model FLOPs utilization (MFU).

Datasheets quote tensor-core figures "with sparsity" (2:4 structured sparsity, which dense
training never uses) next to or instead of dense ones; MFU must divide by the dense figure,
which is half. Lightning's own table lists the sparse figure for the H200 (2.0e15 in bf16),
which halves the MFU it reports there. fp32 here is the non-tensor-core rate (what
``32-true`` runs at unless TF32 matmuls are enabled).

Names are matched against ``torch.cuda.get_device_name()`` (e.g. "NVIDIA H100 80GB HBM3",
"NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090"), first match wins, so more specific
patterns come first ("L40S" before "L4", "H100 PCIe" before "H100").
"""

from __future__ import annotations

import re

import torch

# (pattern, {dtype: dense FLOP/s}); bf16/fp16 with fp32 accumulation.
PEAK_FLOPS: list[tuple[str, dict[torch.dtype, float]]] = [
    # H100 PCIe datasheet: 756 TFLOPS bf16/fp16 dense (1,513 sparse), 51 TFLOPS fp32.
    (r"H100.*PCIe", {torch.bfloat16: 756e12, torch.float16: 756e12, torch.float32: 51.2e12}),
    # H100 NVL (one GPU of the pair): 835 dense (1,671 sparse), 60 fp32.
    (r"H100.*NVL", {torch.bfloat16: 835e12, torch.float16: 835e12, torch.float32: 60e12}),
    # H100 SXM5 ("H100 80GB HBM3"): 989 dense (1,979 sparse), 67 fp32.
    (r"H100", {torch.bfloat16: 989.4e12, torch.float16: 989.4e12, torch.float32: 66.9e12}),
    # H200 NVL: 835 dense (1,671 sparse), 60 fp32.
    (r"H200.*NVL", {torch.bfloat16: 835e12, torch.float16: 835e12, torch.float32: 60e12}),
    # H200 SXM: the H100 SXM's compute with more memory: 989 dense (1,979 sparse), 67 fp32.
    (r"H200", {torch.bfloat16: 989.4e12, torch.float16: 989.4e12, torch.float32: 66.9e12}),
    # A100 (SXM4 and PCIe, 40/80 GB): 312 dense (624 sparse), 19.5 fp32.
    (r"A100", {torch.bfloat16: 312e12, torch.float16: 312e12, torch.float32: 19.5e12}),
    # L40S: 362 dense (733 sparse), 91.6 fp32.
    (r"L40S", {torch.bfloat16: 362.05e12, torch.float16: 362.05e12, torch.float32: 91.6e12}),
    # L4: 121 dense (242 sparse), 30.3 fp32.
    (r"\bL4\b", {torch.bfloat16: 121e12, torch.float16: 121e12, torch.float32: 30.3e12}),
    # A10 datasheet: 125 dense (250 sparse), 31.2 fp32. NVIDIA publishes no sheet for AWS's
    # A10G; the A10's figures are used (measure, and override, if in doubt).
    (r"\bA10G?\b", {torch.bfloat16: 125e12, torch.float16: 125e12, torch.float32: 31.2e12}),
    # GeForce RTX 4090 (Ada whitepaper, fp32 accumulate): 165.2 dense (330.3 sparse), 82.6 fp32.
    (r"RTX 4090", {torch.bfloat16: 165.2e12, torch.float16: 165.2e12, torch.float32: 82.6e12}),
    # GeForce RTX 3090 (Ampere whitepaper, fp32 accumulate): 71 dense (142 sparse), 35.6 fp32.
    (r"RTX 3090", {torch.bfloat16: 71e12, torch.float16: 71e12, torch.float32: 35.6e12}),
    # V100 (SXM2): 125 fp16 tensor, 15.7 fp32; no bf16.
    (r"V100", {torch.float16: 125e12, torch.float32: 15.7e12}),
    # T4: 65 fp16 tensor, 8.1 fp32; no bf16.
    (r"\bT4\b", {torch.float16: 65e12, torch.float32: 8.1e12}),
]


def datasheet_peak_flops(device_name: str, dtype: torch.dtype) -> float | None:
    """The dense peak of the first table entry matching ``device_name``; None if unknown."""
    for pattern, peaks in PEAK_FLOPS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return peaks.get(dtype)
    return None
