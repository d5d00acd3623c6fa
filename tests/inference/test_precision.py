"""Inference precision: packed layers compute what bf16 and fp32 ``nn.Linear`` do, bf16 stays
close to fp32, the KV cache stays exact, and bad precision names are one-line errors."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gpt_experiments.devices import onednn_packing_available
from gpt_experiments.errors import ConfigError
from gpt_experiments.inference import precision as inference_precision
from gpt_experiments.inference.precision import (
    PackedLinear,
    inference_view,
    resolve_precision,
    to_inference_precision,
)
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT
from tests.inference.conftest import TINY, assert_cached_greedy_matches_uncached, logits_side_by_side

needs_onednn = pytest.mark.skipif(not onednn_packing_available(), reason="no oneDNN bf16 here")


@pytest.fixture(scope="module")
def bf16_model(fp32_model) -> GPT:
    return to_inference_precision(copy.deepcopy(fp32_model), "bf16")


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (3, 64)])
def test_packed_linear_computes_a_bf16_linear(bias, shape):
    torch.manual_seed(0)
    linear = nn.Linear(48, 80, bias=bias)
    x = torch.randn(*shape, 48).bfloat16()
    packed = PackedLinear(linear)
    expected = F.linear(x, linear.weight.bfloat16(), None if linear.bias is None else linear.bias.bfloat16())
    out = packed(x)
    assert out.dtype == torch.bfloat16 and out.shape == (*shape, 80)
    # Both round to bf16 once per output; only the summation order may differ.
    torch.testing.assert_close(out.float(), expected.float(), rtol=1e-2, atol=1e-2)
    assert list(packed.state_dict()) == []  # an inference view, never saved


@needs_onednn
def test_bf16_model_packs_every_linear_and_keeps_the_embedding_for_lookups(fp32_model, bf16_model):
    assert not any(isinstance(m, nn.Linear) for m in bf16_model.modules())
    assert isinstance(bf16_model.lm_head, PackedLinear)
    assert {p.dtype for p in bf16_model.parameters()} == {torch.bfloat16}
    assert torch.equal(bf16_model.wte.weight, fp32_model.wte.weight.bfloat16())
    assert isinstance(fp32_model.lm_head, nn.Linear)  # the fp32 original is untouched


def test_bf16_logits_stay_close_to_fp32(fp32_model, bf16_model):
    fp32, bf16 = logits_side_by_side(fp32_model, bf16_model)
    assert bf16.dtype == torch.bfloat16
    # bf16 keeps 8 mantissa bits: errors of a few parts in a thousand of the logits' scale.
    assert (bf16.float() - fp32).abs().max() < 0.02 * fp32.abs().max()


@pytest.mark.parametrize("prompt_length", [1, 6, 20])
def test_bf16_cached_greedy_matches_bf16_uncached_greedy(bf16_model, prompt_length):
    assert_cached_greedy_matches_uncached(bf16_model, prompt_length)


def test_bf16_sampling_with_a_seed_is_reproducible(bf16_model):
    sampler = SamplerConfig(max_new_tokens=20, temperature=1.0, top_k=10, seed=4)
    assert generate(bf16_model, [[1, 2, 3]], sampler) == generate(bf16_model, [[1, 2, 3]], sampler)


def test_without_onednn_bf16_the_layers_are_cast_not_packed(monkeypatch, fp32_model):
    monkeypatch.setattr(inference_precision, "onednn_packing_available", lambda dtype: False)
    model = to_inference_precision(copy.deepcopy(fp32_model), "bf16")
    assert isinstance(model.lm_head, nn.Linear) and model.lm_head.weight is model.wte.weight
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    prompt, sampler = [[1, 2, 3]], SamplerConfig(max_new_tokens=30)
    assert generate(model, prompt, sampler) == generate(model, prompt, sampler, use_cache=False)


@pytest.mark.skipif(not onednn_packing_available(torch.float32), reason="no oneDNN fp32 packing here")
def test_fp32_packs_every_linear_and_keeps_fp32_logits(fp32_model):
    model = to_inference_precision(copy.deepcopy(fp32_model), "fp32")
    assert isinstance(model.lm_head, PackedLinear) and model.lm_head.dtype == torch.float32
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    fp32, packed = logits_side_by_side(fp32_model, model)
    assert packed.dtype == torch.float32
    # The same fp32 products; only the kernels' summation order differs.
    torch.testing.assert_close(packed, fp32, rtol=1e-5, atol=1e-5)
    assert_cached_greedy_matches_uncached(model, prompt_length=5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_inference_view_shares_the_weights_and_leaves_the_model_trainable(precision):
    torch.manual_seed(0)
    model = GPT(TINY)
    view = inference_view(model, precision)
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert isinstance(model.lm_head, nn.Linear) and model.lm_head.weight is model.wte.weight
    if precision == "fp32":
        assert view.wte.weight.data_ptr() == model.wte.weight.data_ptr()  # shared, not copied
    prompt, sampler = [[1, 2, 3]], SamplerConfig(max_new_tokens=10)
    expected = generate(to_inference_precision(copy.deepcopy(model), precision), prompt, sampler)
    assert generate(view, prompt, sampler) == expected


def test_without_onednn_fp32_leaves_the_model_as_it_is(monkeypatch, fp32_model):
    monkeypatch.setattr(inference_precision, "onednn_packing_available", lambda dtype: False)
    model = copy.deepcopy(fp32_model)
    assert to_inference_precision(model, "fp32") is model
    assert isinstance(model.lm_head, nn.Linear) and model.lm_head.weight is model.wte.weight


@pytest.mark.parametrize("native", [True, False])
def test_auto_picks_bf16_only_where_the_hardware_has_it(monkeypatch, native):
    monkeypatch.setattr(inference_precision, "has_native_bf16", lambda device: native)
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize(("capability", "native"), [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_auto_uses_bf16_on_ampere_and_later_gpus_only(monkeypatch, capability, native):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: capability)
    assert resolve_precision("auto", torch.device("cuda:1")) == ("bf16" if native else "fp32")


@needs_onednn
def test_a_packed_model_refuses_to_change_dtype_with_a_clear_message(fp32_model):
    model = to_inference_precision(copy.deepcopy(fp32_model), "bf16")
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(RuntimeError, match="cannot change dtype or device: load the checkpoint again"):
        model.float()


def test_apple_gpus_stay_in_fp32():
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


@pytest.mark.parametrize("name", ["fp16", "bfloat16", ""])
def test_unknown_precision_is_a_one_line_error(name):
    with pytest.raises(ConfigError, match=f"precision='{name}' is unknown: use one of auto, fp32, bf16"):
        resolve_precision(name, torch.device("cpu"))
