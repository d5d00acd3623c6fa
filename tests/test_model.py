import pytest
import torch

from gpt_experiments.errors import ConfigError
from gpt_experiments.model import GPT, GPTConfig, KVCache
from gpt_experiments.model_flops import non_embedding_parameters
from gpt_experiments.tokenizer import gpt2
from gpt_experiments.training.config_checks import architecture_values, model_settings

SIZES = {
    "gpt2_small": (768, 12, 12, 124_439_808),
    "gpt2_medium": (1024, 24, 16, 354_823_168),
    "gpt2_large": (1280, 36, 20, 774_030_080),
    "gpt2_xl": (1600, 48, 25, 1_557_611_200),
}


def tiny(**overrides) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=101, context_length=17, emb_dim=20, n_heads=5, n_layers=3, drop_rate=0.0)
    return GPT(GPTConfig(**{**cfg, **overrides})).eval()


@pytest.mark.parametrize("name", SIZES)
def test_parameter_counts_match_openai_sizes(name, compose_train):
    emb_dim, n_layers, n_heads, expected = SIZES[name]
    cfg = compose_train(f"model={name}", "model.context_length=1024")
    assert (cfg.model.emb_dim, cfg.model.n_layers, cfg.model.n_heads) == (emb_dim, n_layers, n_heads)
    with torch.device("meta"):
        # vocab_size: null in the config; a run takes the tokenizer's (GPT-2's 50,257).
        model = GPT(GPTConfig(**model_settings(dict(cfg.model), gpt2())))
    assert model.num_parameters() == expected


def test_output_head_is_the_token_embedding_tensor():
    model = tiny()
    assert model.lm_head.weight is model.wte.weight
    model.wte.weight.data[3, 4] = 123.0
    assert model.lm_head.weight[3, 4] == 123.0


@pytest.mark.parametrize("tied", [True, False])
def test_from_weights_holds_the_given_tensors_without_copying_or_untying(tied):
    original = tiny(tie_embeddings=tied)
    state = {name: tensor.clone() for name, tensor in original.state_dict().items()}
    model = GPT.from_weights(original.config, state).eval()
    assert model.wte.weight.data_ptr() == state["wte.weight"].data_ptr()
    assert (model.lm_head.weight is model.wte.weight) == tied
    assert not any(p.is_meta for p in model.parameters())
    idx = torch.randint(0, 101, (2, 9))
    torch.testing.assert_close(model(idx), original(idx), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="Missing key"):
        GPT.from_weights(original.config, {k: v for k, v in state.items() if k != "ln_f.bias"})


def test_logits_shape_and_causality():
    model = tiny()
    idx = torch.randint(0, 101, (2, 9))
    logits = model(idx)
    assert logits.shape == (2, 9, 101)
    changed = idx.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 101
    # Positions before the changed token must not see it.
    torch.testing.assert_close(model(changed)[:, :5], logits[:, :5])
    assert not torch.allclose(model(changed)[:, 5:], logits[:, 5:])


def test_cached_forward_equals_full_forward():
    model = tiny()
    idx = torch.randint(0, 101, (3, 12))
    full = model(idx)
    cache = model.new_cache()
    pieces = [model(idx[:, :5], cache), model(idx[:, 5:6], cache), model(idx[:, 6:], cache)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


def test_last_position_only_gives_the_last_row_of_the_full_logits():
    model = tiny()
    idx = torch.randint(0, 101, (2, 9))
    last = model(idx, last_position_only=True)
    assert last.shape == (2, 1, 101)
    torch.testing.assert_close(last, model(idx)[:, -1:])


def test_sequence_longer_than_context_is_a_clear_error():
    with pytest.raises(ValueError, match="exceeds the model's context length 17"):
        tiny()(torch.zeros((1, 18), dtype=torch.long))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"emb_dim": 20, "n_heads": 3}, "model.emb_dim=20 is not divisible by model.n_heads=3"),
        ({"n_layers": 0}, "model.n_layers=0 is invalid: it must be a positive integer"),
        ({"drop_rate": 1.5}, r"model.drop_rate=1.5 is invalid: it must be in \[0, 1\)"),
    ],
)
def test_invalid_architecture_is_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        GPTConfig(**overrides)


def test_seed_chapter_model_has_an_untied_head_and_pytorch_initialisation():
    tied = tiny()
    seed_style = tiny(tie_embeddings=False, weight_init="pytorch")
    assert seed_style.lm_head.weight is not seed_style.wte.weight
    assert seed_style.num_parameters() == tied.num_parameters() + 101 * 20
    # nn.Embedding's default is N(0, 1); GPT-2's is N(0, 0.02).
    assert 0.8 < seed_style.wte.weight.std().item() < 1.2
    assert 0.015 < tied.wte.weight.std().item() < 0.025


def test_unknown_initialisation_is_rejected():
    with pytest.raises(ConfigError, match="model.weight_init='xavier' is unknown: use one of gpt2, pytorch"):
        GPTConfig(weight_init="xavier")


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
@pytest.mark.parametrize("pad", [1, 64], ids=["exact-vocab", "padded-vocab"])
def test_loss_with_targets_equals_cross_entropy_on_the_logits_with_the_same_gradients(autocast, pad):
    """The chunked head + cross-entropy gives the loss and gradients of the plain logits path."""
    model = tiny(pad_vocab_to_multiple=pad).train()
    idx, targets = torch.randint(0, 101, (2, 2, 17)).unbind(0)

    def loss_and_grads(fused: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            if fused:
                loss = model(idx, targets=targets)
            else:
                loss = torch.nn.functional.cross_entropy(model(idx).flatten(0, 1).float(), targets.flatten())
        (2.5 * loss).backward()  # a scale other than 1 must reach the gradients too
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    plain_loss, plain_grads = loss_and_grads(fused=False)
    loss, grads = loss_and_grads(fused=True)
    if not autocast:
        torch.testing.assert_close(loss, plain_loss, rtol=1e-6, atol=0)
        for grad, plain_grad in zip(grads, plain_grads, strict=True):
            torch.testing.assert_close(grad, plain_grad, rtol=1e-5, atol=1e-7)
        return
    # bf16 rounds where each path scales and casts, so compare whole tensors at bf16's precision.
    torch.testing.assert_close(loss, plain_loss, rtol=1e-3, atol=0)
    for grad, plain_grad in zip(grads, plain_grads, strict=True):
        assert (grad - plain_grad).norm() <= 2e-2 * plain_grad.norm()


def test_loss_is_chunked_and_sums_without_gradients():
    from gpt_experiments.model import head_cross_entropy

    model = tiny()
    idx = torch.randint(0, 101, (3, 17))
    with torch.no_grad():
        hidden = model.ln_f(torch.randn(51, 20))
        targets = torch.randint(0, 101, (51,))
        expected = torch.nn.functional.cross_entropy(model.lm_head(hidden), targets, reduction="sum")
        # 51 rows in blocks of 8: the last block is partial.
        chunked = head_cross_entropy(hidden, model.lm_head.weight, targets, 101, "sum", chunk_rows=8)
        torch.testing.assert_close(chunked, expected)
        assert model(idx, targets=idx, reduction="sum").requires_grad is False
    with pytest.raises(ValueError, match="reduction"):
        head_cross_entropy(hidden, model.lm_head.weight, targets, 101, "none")


def test_cpu_cache_stores_bf16_keys_exactly_in_fp32():
    cache = KVCache(n_layers=1, capacity=8)
    k, v = torch.randn(2, 3, 5, 4).bfloat16(), torch.randn(2, 3, 5, 4).bfloat16()
    keys, values = cache.update(0, k, v)
    assert keys.dtype == values.dtype == torch.float32
    assert torch.equal(keys, k.float()) and torch.equal(values, v.float())


@pytest.mark.parametrize("rows", [1, 8])
def test_bf16_cached_step_is_fp32_attention_over_the_cache(rows):
    """A bf16 model's cached step (fp32 attention over the fp32 cache) stays within bf16 rounding."""
    model = tiny()
    idx = torch.randint(0, 101, (rows, 12))
    with torch.no_grad():
        reference = model(idx)[:, -1]
        low = model.to(torch.bfloat16)
        cache = low.new_cache()
        low(idx[:, :-1], cache)
        step = low(idx[:, -1:], cache)[:, -1]
    assert step.dtype == torch.bfloat16
    assert (step.float() - reference).abs().max() < 0.05 * reference.abs().max()


def gpt2_parameters_by_hand(vocab: int, context: int, d: int, layers: int, tied: bool, qkv_bias: bool) -> int:
    """Token and position tables, per block two LayerNorms (4d), qkv (3d^2 + 3d), the attention
    output (d^2 + d) and the MLP (8d^2 + 5d), the final LayerNorm (2d), and an untied head."""
    block = 12 * d * d + 13 * d - (0 if qkv_bias else 3 * d)
    return vocab * d + context * d + layers * block + 2 * d + (0 if tied else vocab * d)


@pytest.mark.parametrize("name", [*SIZES, "tiny", "ladder"])
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_every_model_option_has_the_parameters_counted_by_hand(name, tied, compose_train):
    cfg = compose_train(f"model={name}", f"model.tie_embeddings={str(tied).lower()}")
    with torch.device("meta"):
        model = GPT(GPTConfig(**model_settings(architecture_values(cfg.model), gpt2())))
    c = model.config
    expected = gpt2_parameters_by_hand(50257, c.context_length, c.emb_dim, c.n_layers, tied, c.qkv_bias)
    assert model.num_parameters() == expected
    tables = (50257 * (1 if tied else 2) + c.context_length) * c.emb_dim  # N leaves them out
    assert non_embedding_parameters(model) == expected - tables


def test_the_seed_chapters_model_has_its_163m_parameters():
    """The chapter's GPT-2 124M: untied head, no qkv bias, context 1024: 163,009,536."""
    with torch.device("meta"):
        model = GPT(GPTConfig(context_length=1024, tie_embeddings=False, qkv_bias=False))
    assert model.num_parameters() == 163_009_536
    assert model.num_parameters() - model.lm_head.weight.numel() == 124_412_160  # the chapter's tied figure
