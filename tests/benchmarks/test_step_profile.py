"""The profile's FLOP count and its sorting of operators into parts."""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from benchmarks.step_profile import _part, model_flops
from gpt_experiments.model import GPT, GPTConfig


def test_model_flops_counts_each_matrix_product_three_times():
    cfg = GPTConfig(vocab_size=100, context_length=4, emb_dim=8, n_heads=2, n_layers=1)
    flops = model_flops(cfg, batch=2, seq=4)
    # 8 tokens; per layer 12 * 8 * 8 = 768 weights; forward 2 FLOPs per weight per token.
    assert flops["matmul"] == 3 * 2 * 8 * 768
    assert flops["output_head"] == 3 * 2 * 8 * 8 * 100
    # Q K^T and attention x V over 2 sequences of 4 positions, half of each (causal).
    assert flops["attention"] == 3 * 2 * 2 * 2 * 4 * 4 * 8 / 2


def test_parts_separate_head_attention_and_matrix_products():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=97, context_length=8, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.1)
    model = GPT(cfg).train()
    idx = torch.randint(0, 97, (2, 8))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("forward"):
            loss = model(idx, targets=idx)
        loss.backward()
    parts = {_part(event, 97) for event in prof.events()}
    assert {"output_head", "attention", "matmul", "layernorm", "gelu", "dropout", "embedding"} <= parts
    # Every matrix product with a vocab-wide operand is the head's; the others are not.
    for event in prof.events():
        if event.name == "aten::mm":
            assert (_part(event, 97) == "output_head") == ("97" in str(event.input_shapes))
