"""compile=true for generate and evaluate: the loaded model, compiled by inductor (no stub),
gives the eager model's text and perplexity. On the CPU its layers stay plain: inductor cannot
lower the oneDNN-packed ones that eager inference uses."""

from __future__ import annotations

import pytest
import torch

from gpt_experiments.inference.evaluation import sliding_window_perplexity
from gpt_experiments.inference.loading import load_inference_model
from gpt_experiments.inference.precision import PackedLinear
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT
from tests.inference.conftest import TINY


@pytest.fixture
def checkpoint(fp32_model: GPT, tmp_path):
    state = {f"model.{name}": tensor for name, tensor in fp32_model.state_dict().items()}
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model": TINY.to_dict()}}, path)
    return str(path)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.slow
# fp32, whose eager layers are packed on the CPU (int8's compiled text also matched, 2026-12-06).
@pytest.mark.parametrize("precision", ["fp32"])
def test_a_compiled_model_generates_and_scores_as_the_eager_one(checkpoint, precision, capsys):
    eager = load_inference_model(checkpoint, "cpu", precision)
    compiled = load_inference_model(checkpoint, "cpu", precision, compile_model=True)
    assert compiled._compiled_call_impl is not None
    assert not any(isinstance(layer, PackedLinear) for layer in compiled.modules())
    assert "compile=true" in capsys.readouterr().err

    sampler = SamplerConfig(max_new_tokens=30)  # greedy, past the 24-token context
    prompt = [[5, 9, 3, 4, 17]]
    assert generate(compiled, prompt, sampler) == generate(eager, prompt, sampler)
    tokens = torch.randint(0, TINY.vocab_size, (100,), generator=torch.Generator().manual_seed(3)).tolist()
    ours = sliding_window_perplexity(compiled, tokens, stride=8, progress=False)
    theirs = sliding_window_perplexity(eager, tokens, stride=8, progress=False)
    assert ours.cross_entropy == pytest.approx(theirs.cross_entropy, rel=1e-5)
    assert ours.tokens_scored == theirs.tokens_scored
