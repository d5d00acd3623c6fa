"""The benchmark builds its models from conf/model, whose vocab_size follows the tokenizer."""

from __future__ import annotations

from benchmarks.benchmark import benchmark_model
from gpt_experiments.model import GPTConfig


def test_benchmark_model_takes_gpt2_vocabulary_and_the_seed_shape():
    model = benchmark_model("gpt2_small", 256)
    assert model["vocab_size"] == 50257  # conf/model says null: GPT-2's tokenizer decides
    assert (model["context_length"], model["qkv_bias"]) == (256, False)
    GPTConfig(**model)  # a valid configuration
