"""The datasheet peak FLOP/s table: dense figures, picked by the name CUDA reports."""

import pytest
import torch

from gpt_experiments.training.peak_flops import datasheet_peak_flops


@pytest.mark.parametrize(
    ("name", "dtype", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", torch.bfloat16, 989.4e12),  # SXM; 1,979 is the sparse figure
        ("NVIDIA H100 PCIe", torch.bfloat16, 756e12),
        ("NVIDIA H100 NVL", torch.float16, 835e12),
        ("NVIDIA H200", torch.bfloat16, 989.4e12),
        ("NVIDIA A100-SXM4-80GB", torch.bfloat16, 312e12),
        ("NVIDIA A100 80GB PCIe", torch.float32, 19.5e12),
        ("NVIDIA L4", torch.bfloat16, 121e12),
        ("NVIDIA L40S", torch.bfloat16, 362.05e12),  # not taken for an L4
        ("NVIDIA A10G", torch.float16, 125e12),
        ("NVIDIA A10", torch.float32, 31.2e12),
        ("NVIDIA GeForce RTX 4090", torch.bfloat16, 165.2e12),
        ("Tesla V100-SXM2-16GB", torch.float16, 125e12),
    ],
)
def test_the_dense_peak_of_the_named_gpu(name, dtype, peak):
    assert datasheet_peak_flops(name, dtype) == peak


def test_unknown_gpus_and_unsupported_types_have_no_peak():
    assert datasheet_peak_flops("NVIDIA GeForce GT 710", torch.bfloat16) is None
    assert datasheet_peak_flops("Tesla V100-SXM2-16GB", torch.bfloat16) is None  # Volta has no bf16
