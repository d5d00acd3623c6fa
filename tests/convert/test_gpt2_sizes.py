"""OpenAI's and Hugging Face's hyperparameters give the four published GPT-2 sizes exactly."""

from __future__ import annotations

import pytest
import torch

from gpt_experiments.convert.huggingface import config_from_hf, hf_config_from
from gpt_experiments.convert.openai_tf import config_from_hparams
from gpt_experiments.model import GPT

# size: (n_embd, n_layer, n_head, parameters with the head tied to wte)
GPT2_SIZES = {
    "124M": (768, 12, 12, 124_439_808),
    "355M": (1024, 24, 16, 354_823_168),
    "774M": (1280, 36, 20, 774_030_080),
    "1558M": (1600, 48, 25, 1_557_611_200),
}


@pytest.mark.parametrize("size", GPT2_SIZES)
def test_hparams_build_the_published_sizes(size):
    emb, layers, heads, n_params = GPT2_SIZES[size]
    hparams = {"n_vocab": 50257, "n_ctx": 1024, "n_embd": emb, "n_head": heads, "n_layer": layers}
    config = config_from_hparams(hparams)
    assert config_from_hf(hf_config_from(config)) == config
    with torch.device("meta"):  # shapes only, no memory
        model = GPT(config)
    assert model.num_parameters() == n_params
    assert model.lm_head.weight is model.wte.weight
