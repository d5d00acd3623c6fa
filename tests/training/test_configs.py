"""Every option of every config group in conf/ composes and passes ``validate_config``.

Options are found by listing conf/, so a new YAML file is tested without editing this
file. Nothing is trained or read: this is the check a config change must pass first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from gpt_experiments.errors import ConfigError
from gpt_experiments.training.config_checks import validate_config
from gpt_experiments.training.run import apply_float32_matmul_precision
from tests.conftest import CONF_DIR

# Options that leave a mandatory value (???) for the user: the values a user would pass.
REQUIRED_VALUES = {
    "init=project": ["init.path=outputs/runs/2024-01-01/12-00-00/checkpoints/last.ckpt"],
    "init=openai": ["init.path=models/gpt2/124M"],
    "init=huggingface": ["init.path=models/gpt2-hf"],
    "data=text": ["data.path=corpus.txt"],
    "data=jsonl": ["data.path=corpus.jsonl"],
    "data=parquet": ["data.path=corpus.parquet"],
    "data=llmc": ["data.path=prepared/"],
    "data=nanogpt_bin": ["data.path=prepared/"],
}


def group_options() -> list[str]:
    """``group=option`` for every YAML file in every folder of conf/ (``hydra/launcher=slurm``)."""
    return sorted(
        f"{path.parent.relative_to(CONF_DIR).as_posix()}={path.stem}" for path in CONF_DIR.glob("*/**/*.yaml")
    )


def compose_train(overrides: list[str], tmp_path: Path) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[f"paths.output_dir={tmp_path}/run", f"paths.cache_dir={tmp_path}/cache", *overrides],
            return_hydra_config=True,
        )


def test_every_group_folder_is_found():
    groups = {option.split("=")[0] for option in group_options()}
    expected = {"model", "data", "optimizer", "scheduler", "sampler", "trainer", "callbacks", "logger"}
    assert groups >= expected | {"init", "experiment", "debug", "hparams_search", "hydra/launcher"}


@pytest.mark.parametrize("option", group_options())
def test_every_option_composes_and_validates(option, tmp_path):
    cfg = compose_train([option, *REQUIRED_VALUES.get(option, [])], tmp_path)
    group, choice = option.split("=")
    assert cfg.hydra.runtime.choices[group] == choice
    validate_config(cfg)


def test_an_option_missing_its_required_value_is_a_config_error(tmp_path):
    cfg = compose_train(["init=project"], tmp_path)
    with pytest.raises(ConfigError, match=r"init.path is not set: pass init.path=\.\.\."):
        validate_config(cfg)


@pytest.mark.parametrize(
    ("model", "context"),
    [("tiny", 32), ("gpt2_small", 256), ("gpt2_medium", 256), ("gpt2_large", 256), ("gpt2_xl", 256)],
)
def test_the_seeds_shorter_context_never_lengthens_a_model(model, context, tmp_path):
    # The GPT-2 options train at the seed's 256, not GPT-2's 1024; tiny keeps its own 32.
    assert compose_train([f"model={model}"], tmp_path).model.context_length == context
    longer = compose_train([f"model={model}", "model.context_length=1024"], tmp_path)
    assert longer.model.context_length == 1024


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=abc", "seed='abc' has the wrong type: it must be an integer"),
        ("compile=ture", "compile='ture' has the wrong type: it must be true or false"),
        (
            "float32_matmul_precision=low",
            "float32_matmul_precision='low' has the wrong type: "
            "it must be one of 'highest', 'high', 'medium'",
        ),
    ],
)
def test_the_runs_own_settings_are_typed_like_a_groups(override, message, tmp_path):
    """A typo in a top-level key is one line before anything runs: compile=ture compiled, and
    seed=abc ended in Hydra's report of int('abc')."""
    with pytest.raises(ConfigError) as refused:
        validate_config(compose_train([override], tmp_path))
    assert str(refused.value) == message


def test_the_fp32_matmul_precision_is_set_for_the_run(tmp_path):
    cfg = compose_train(["model=tiny", "float32_matmul_precision=high"], tmp_path)
    validate_config(cfg)
    before = torch.get_float32_matmul_precision()
    try:
        apply_float32_matmul_precision(cfg)
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)
