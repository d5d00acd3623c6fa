"""The generation benchmark's memory roof counts the weights a cached step really reads."""

from __future__ import annotations

import torch

from benchmarks.generation_vs_seed import weight_bytes_per_token
from gpt_experiments.model import GPT, GPTConfig

GPT2_SMALL_PARAMETERS = 124_439_808  # tied head; OpenAI's 124M checkpoint


def test_a_cached_step_of_gpt2_small_reads_all_weights_but_the_position_table_once():
    model = GPT(GPTConfig(drop_rate=0.0))
    position_table = 1024 * 768  # one row of it is read per token
    elements = GPT2_SMALL_PARAMETERS - position_table
    assert weight_bytes_per_token(model, torch.float32) == 4 * elements
    assert weight_bytes_per_token(model, torch.bfloat16) == 2 * elements  # 235.9 MiB
