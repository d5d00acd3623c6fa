"""The conf/sampler group: every option holds exactly SamplerConfig's fields plus prompts."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.sampling import SamplerConfig, sampler_and_prompts

SAMPLER_DIR = Path(__file__).resolve().parents[2] / "conf" / "sampler"


@pytest.mark.parametrize("name", ["greedy", "top_k", "nucleus"])
def test_sampler_option_is_a_valid_sampler_config_plus_prompts(name):
    settings = OmegaConf.load(SAMPLER_DIR / f"{name}.yaml")
    assert set(settings) == {f.name for f in fields(SamplerConfig)} | {"prompts"}
    sampler, prompts = sampler_and_prompts(settings)
    sampler.validate(vocab_size=50257)
    assert prompts == ["Every effort moves you"]


def test_unknown_sampler_key_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"unknown keys \['topk'\]"):
        sampler_and_prompts({"topk": 5, "prompts": ["x"]})
