"""The swappable parts of the GPT (rotary positions, RMSNorm, SwiGLU, squared ReLU, QK-norm,
no biases), each against a reference written from its definition, and every combination
through the KV cache."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from gpt_experiments.errors import ConfigError
from gpt_experiments.model import GPT, MLPS, NORMS, POS_EMBEDDINGS, GPTConfig, rotate

TINY = {"vocab_size": 101, "context_length": 17, "emb_dim": 24, "n_heads": 3, "n_layers": 2, "drop_rate": 0.0}


def tiny(**parts) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**TINY, **parts)).eval()


def test_rotary_embedding_is_multiplication_by_unit_complex_numbers():
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64).float()
    base, start = 500.0, 4
    # Pair j: channel j (real part) with channel j + 4 (imaginary part), angle position * base^(-2j/8).
    pairs = torch.complex(x[..., :4].double(), x[..., 4:].double())
    angles = torch.arange(start, start + 7, dtype=torch.float64)[:, None] * base ** (
        -2 * torch.arange(4, dtype=torch.float64) / 8
    )
    expected = pairs * torch.polar(torch.ones_like(angles), angles)
    torch.testing.assert_close(rotate(x, start, base), torch.cat((expected.real, expected.imag), -1).float())


def test_rotary_embedding_equals_transformers_llama_rotation():
    """Llama's rotate-half convention in transformers (the hf extra): the same pairs and angles."""
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    q, k = torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    base, start = 10000.0, 5
    inverse_frequencies = base ** -(torch.arange(0, 8, 2).float() / 8)
    angles = torch.outer(torch.arange(start, start + 7).float(), inverse_frequencies)
    angles = torch.cat((angles, angles), dim=-1)
    q_ref, k_ref = llama.apply_rotary_pos_emb(q, k, angles.cos()[None], angles.sin()[None])
    torch.testing.assert_close(rotate(q, start, base), q_ref)
    torch.testing.assert_close(rotate(k, start, base), k_ref)


def test_rotated_query_key_products_depend_only_on_the_distance():
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(query_pos: int, key_pos: int) -> torch.Tensor:
        return (rotate(q, query_pos, 10000.0) * rotate(k, key_pos, 10000.0)).sum()

    torch.testing.assert_close(score(9, 2), score(30, 23))
    assert not torch.allclose(score(9, 2), score(9, 5))


def test_rmsnorm_is_x_over_its_root_mean_square_times_the_gain():
    model = tiny(norm="rmsnorm")
    norm = model.h[0].ln_1
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(4, 24)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), expected)


def mlp_weights(model: GPT) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    mlp = model.h[0].mlp
    return mlp.c_fc.weight, mlp.c_fc.bias, mlp.c_proj.weight, mlp.c_proj.bias


def test_swiglu_is_silu_of_x_w1_times_x_w3_then_w2():
    model = tiny(mlp="swiglu")
    w_in, b_in, w2, b2 = mlp_weights(model)
    hidden = model.config.hidden_dim
    w1, w3, b1, b3 = w_in[:hidden], w_in[hidden:], b_in[:hidden], b_in[hidden:]
    x = torch.randn(5, 24)
    expected = (F.silu(x @ w1.T + b1) * (x @ w3.T + b3)) @ w2.T + b2
    torch.testing.assert_close(model.h[0].mlp(x), expected)


def test_squared_relu_mlp_is_relu_squared_between_the_two_matrices():
    model = tiny(mlp="relu2")
    w1, b1, w2, b2 = mlp_weights(model)
    x = torch.randn(5, 24)
    torch.testing.assert_close(model.h[0].mlp(x), torch.relu(x @ w1.T + b1) ** 2 @ w2.T + b2)


def test_gelu_mlp_is_gpt2s_tanh_gelu():
    model = tiny()
    w1, b1, w2, b2 = mlp_weights(model)
    x = torch.randn(5, 24)
    h = x @ w1.T + b1
    tanh_gelu = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    torch.testing.assert_close(model.h[0].mlp(x), tanh_gelu @ w2.T + b2)


def test_qk_norm_normalises_each_heads_queries_and_keys_before_the_scores():
    model = tiny(qk_norm=True)
    attn = model.h[0].attn
    with torch.no_grad():
        attn.q_norm.weight.uniform_(0.5, 1.5)
        attn.k_norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 6, 24)
    q, k, v = (t.view(2, 6, 3, 8).transpose(1, 2) for t in attn.c_attn(x).split(24, dim=2))

    def rms(t: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        return t / torch.sqrt(t.pow(2).mean(-1, keepdim=True) + 1e-5) * gain

    q, k = rms(q, attn.q_norm.weight), rms(k, attn.k_norm.weight)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(8)
    scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), -math.inf)
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 6, 24)
    torch.testing.assert_close(attn(x), attn.c_proj(y), rtol=1e-5, atol=1e-5)


def test_no_bias_removes_every_bias_qkv_included():
    model = tiny(bias=False)
    names = [name for name, _ in model.named_parameters()]
    assert not [name for name in names if name.endswith(".bias")]
    assert sum(p.numel() for p in tiny().parameters()) - model.num_parameters() == (
        2 * (3 * 24 + 24 + 4 * 24 + 24 + 2 * 24) + 24  # per block: qkv, proj, fc, proj, two norms; ln_f
    )


def test_gpt2_small_swiglu_keeps_the_mlp_parameter_count():
    gelu, swiglu = GPTConfig(), GPTConfig(mlp="swiglu")
    assert swiglu.hidden_dim == 2048
    with torch.device("meta"):
        counts = [GPT(cfg).num_parameters() for cfg in (gelu, swiglu)]
    # Same matrices (2 x 768 x 3072 = 768 x 4096 + 2048 x 768); biases: 4096 + 768 vs 3072 + 768.
    assert counts[1] - counts[0] == 12 * (4096 - 3072)


@pytest.mark.parametrize("pos_embedding", ["rope", "none"])
def test_only_learned_positions_have_a_table(pos_embedding):
    assert tiny(pos_embedding=pos_embedding).wpe is None
    assert tiny().num_parameters() - tiny(pos_embedding=pos_embedding).num_parameters() == 17 * 24


def test_gpt2s_parts_are_the_defaults_and_others_are_named():
    assert GPTConfig().non_gpt2_parts() == []
    assert GPTConfig(pos_embedding="rope", bias=False).non_gpt2_parts() == [
        "model.pos_embedding=rope",
        "model.bias=False",
    ]


COMBINATIONS = list(itertools.product(POS_EMBEDDINGS, NORMS, MLPS, (False, True), (True, False)))


@pytest.mark.parametrize(("pos_embedding", "norm", "mlp", "qk_norm", "bias"), COMBINATIONS)
def test_every_combination_generates_through_the_cache_as_the_full_forward(
    pos_embedding, norm, mlp, qk_norm, bias
):
    model = tiny(pos_embedding=pos_embedding, norm=norm, mlp=mlp, qk_norm=qk_norm, bias=bias)
    idx = torch.randint(0, 101, (2, 11))
    full = model(idx)
    cache = model.new_cache()
    pieces = [model(idx[:, :4], cache), model(idx[:, 4:5], cache), model(idx[:, 5:], cache)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)
    # Causal: a later token never changes an earlier position's logits.
    changed = idx.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 101
    torch.testing.assert_close(model(changed)[:, :7], full[:, :7])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"pos_embedding": "alibi"},
            "model.pos_embedding='alibi' is unknown: use one of learned, rope, none",
        ),
        ({"norm": "batchnorm"}, "model.norm='batchnorm' is unknown: use one of layernorm, rmsnorm"),
        ({"mlp": "geglu"}, "model.mlp='geglu' is unknown: use one of gelu, swiglu, relu2"),
        ({"pos_embedding": "rope", "emb_dim": 27, "n_heads": 3}, "choose an even head size"),
        ({"rope_base": 0.5}, "model.rope_base=0.5 is invalid"),
        ({"mlp_hidden": 0}, "model.mlp_hidden=0 is invalid"),
    ],
)
def test_unknown_or_impossible_parts_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        GPTConfig(**{**TINY, **overrides})
