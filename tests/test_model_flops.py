"""The parameter count and FLOPs per token that the compute budget and the scaling fit use."""

import pytest

from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.model_flops import non_embedding_parameters, training_flops_per_token
from gpt_experiments.training.lit_module import GPTLitModule

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)


def block_parameters(d: int) -> int:
    """One GPT-2 block by hand: two LayerNorms, qkv and output projections, a 4x MLP, all biased."""
    norms = 2 * 2 * d
    attention = d * 3 * d + 3 * d + d * d + d
    mlp = d * 4 * d + 4 * d + 4 * d * d + d
    return norms + attention + mlp


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_non_embedding_parameters_leave_out_the_tables_and_the_head(tie_embeddings):
    model = GPT(GPTConfig(**TINY, tie_embeddings=tie_embeddings))
    assert non_embedding_parameters(model) == 2 * block_parameters(12) + 2 * 12  # + final norm


def test_training_flops_per_token_is_six_n_plus_the_head_plus_attention():
    model = GPT(GPTConfig(**TINY))
    n = 2 * block_parameters(12) + 2 * 12
    assert training_flops_per_token(model) == 6 * (n + 101 * 12) + 12 * 2 * 12 * 8


def test_attention_flops_follow_the_length_of_the_sequences_trained_on():
    """Windows of 4 tokens in a model of context 8: each query meets 4 keys, not 8."""
    model = GPT(GPTConfig(**TINY))
    full = training_flops_per_token(model)
    assert full - training_flops_per_token(model, sequence_length=4) == 12 * 2 * 12 * (8 - 4)
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW"}, sequence_length=4)
    assert module.flops_per_token == training_flops_per_token(model, sequence_length=4)


def test_gpt2_small_has_85m_non_embedding_parameters():
    """Kaplan et al.'s count for GPT-2 124M: 124M less 38.6M token and 0.8M position table."""
    model = GPT(GPTConfig(context_length=1024))
    assert non_embedding_parameters(model) == model.num_parameters() - 50257 * 768 - 1024 * 768
    assert round(non_embedding_parameters(model) / 1e6, 1) == 85.1
