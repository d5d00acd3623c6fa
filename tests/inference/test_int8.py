"""int8 generation: FBGEMM int8 layers stay within a stated error of fp32, the KV cache stays
exact, and the opt-in fails with a one-line message where the kernels are missing."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gpt_experiments.errors import ConfigError
from gpt_experiments.inference import precision as inference_precision
from gpt_experiments.inference.int8 import Int8Linear, int8_kernels_available
from gpt_experiments.inference.precision import resolve_precision, to_inference_precision
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT
from tests.inference.conftest import assert_cached_greedy_matches_uncached, logits_side_by_side

pytestmark = pytest.mark.skipif(not int8_kernels_available(), reason="no FBGEMM int8 kernels here")


@pytest.fixture(scope="module")
def int8_model(fp32_model) -> GPT:
    return to_inference_precision(copy.deepcopy(fp32_model), "int8")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (3, 64)])
def test_int8_linear_stays_close_to_the_fp32_linear(bias, shape):
    torch.manual_seed(0)
    linear = nn.Linear(48, 80, bias=bias)
    x = torch.randn(*shape, 48)
    out, expected = Int8Linear(linear)(x), linear(x).detach()
    assert out.dtype == torch.float32 and out.shape == (*shape, 80)
    # Weights and inputs each round to 1/254 (1/127 for 7-bit inputs) of their range; over
    # 48 products the errors partly cancel: a few percent of the largest output at most.
    assert (out - expected).abs().max() < 0.03 * expected.abs().max()
    assert list(Int8Linear(linear).state_dict()) == []  # an inference view, never saved


def test_a_zero_weight_row_stays_zero():
    linear = nn.Linear(16, 4)
    with torch.no_grad():
        linear.weight[2] = 0
    out = Int8Linear(linear)(torch.randn(3, 16))
    torch.testing.assert_close(out[:, 2], linear.bias[2].detach().expand(3))


def test_int8_model_replaces_every_linear_and_keeps_the_rest_fp32(fp32_model, int8_model):
    assert not any(isinstance(m, nn.Linear) for m in int8_model.modules())
    assert isinstance(int8_model.lm_head, Int8Linear)
    assert {p.dtype for p in int8_model.parameters()} == {torch.float32}
    assert torch.equal(int8_model.wte.weight, fp32_model.wte.weight)
    assert isinstance(fp32_model.lm_head, nn.Linear)  # the fp32 original is untouched


def test_int8_logits_stay_within_five_percent_of_fp32(fp32_model, int8_model):
    fp32, int8 = logits_side_by_side(fp32_model, int8_model)
    # Measured 1.2% here (3.6% on a random GPT-2 small, bf16: 1.3%); 5% leaves room for
    # 7-bit inputs on CPUs without VNNI.
    assert (int8 - fp32).abs().max() < 0.05 * fp32.abs().max()


@pytest.mark.parametrize("prompt_length", [1, 6, 20])
def test_int8_cached_greedy_matches_int8_uncached_greedy(int8_model, prompt_length):
    assert_cached_greedy_matches_uncached(int8_model, prompt_length)


def test_int8_batched_rows_match_each_prompt_alone(int8_model):
    prompts = [[1, 2, 3, 4], [9, 8, 7, 6], [5, 5, 5, 5]]
    sampler = SamplerConfig(max_new_tokens=12)
    together = generate(int8_model, prompts, sampler)
    # Each call quantizes its whole input with one scale, so rows can shift each other's
    # rounding: compare the first tokens, which the same prompts make near-certain.
    alone = [generate(int8_model, [p], sampler)[0] for p in prompts]
    assert [row[:6] for row in together] == [row[:6] for row in alone]


def test_int8_is_opt_in_never_auto(monkeypatch):
    monkeypatch.setattr(inference_precision, "has_native_bf16", lambda device: True)
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert resolve_precision("int8", torch.device("cpu")) == "int8"


def test_int8_without_the_kernels_is_a_one_line_error(monkeypatch, fp32_model):
    monkeypatch.setattr(inference_precision, "int8_kernels_available", lambda: False)
    with pytest.raises(ConfigError, match="precision=int8 runs on the CPU only"):
        to_inference_precision(copy.deepcopy(fp32_model), "int8")
