"""Faults found by running the commands as a demanding user would (one test per class)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gpt_experiments.checkpoints.project import load_model
from gpt_experiments.config import path_override
from gpt_experiments.convert.huggingface import write_huggingface
from gpt_experiments.model import GPT, GPTConfig
from tests.helpers import run_script, script_env

TINY = GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)


def project_checkpoint(folder: Path, edit: Callable[[dict, dict], object]) -> Path:
    """A tiny project checkpoint, its saved settings and tensors changed by ``edit``."""
    torch.manual_seed(0)
    state = {f"model.{name}": tensor for name, tensor in GPT(TINY).state_dict().items()}
    settings = TINY.to_dict()
    edit(settings, state)
    path = folder / "edited.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model": settings}}, path)
    return path


def huggingface_folder(folder: Path, edit: Callable[[dict], object]) -> Path:
    """A tiny Hugging Face export whose config.json ``edit`` changed."""
    torch.manual_seed(0)
    export = write_huggingface(GPT(TINY), folder / "hf")
    config = json.loads((export / "config.json").read_text())
    edit(config)
    (export / "config.json").write_text(json.dumps(config))
    return export


def assert_one_line_error(result, message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and message in lines[0], result.stderr


# Sizes a file's own config names are never trusted to build a model: a million layers took
# minutes on the meta device, a table of 10**12 positions crashed allocating 96 TB.
EDITED_PROJECT_FILES = {
    "absurd context": (
        lambda settings, state: settings.update(context_length=10**12),
        "has tensor wpe.weight of shape (32, 16), not the (1000000000000, 16) its own config implies",
    ),
    "absurd layer count": (
        lambda settings, state: settings.update(n_layers=10**6),
        "says n_layers=1000000 but holds the tensors of 1 layers",
    ),
    "missing tensor": (lambda settings, state: state.pop("model.ln_f.weight"), "lacks tensor ln_f.weight"),
    "foreign tensor": (
        lambda settings, state: state.update({"model.extra": torch.zeros(1)}),
        "holds tensor extra, which its own config has no place for",
    ),
}


@pytest.mark.parametrize("edit, message", EDITED_PROJECT_FILES.values(), ids=EDITED_PROJECT_FILES)
def test_a_checkpoint_whose_tensors_do_not_fit_its_config_is_one_line(tmp_path, edit, message):
    ckpt = project_checkpoint(tmp_path, edit)
    result = run_script("generate.py", f"ckpt={ckpt}", "prompt=Hi", cwd=tmp_path, timeout=60)
    assert_one_line_error(result, message)


EDITED_HF_CONFIGS = {
    "absurd positions": (
        lambda config: config.update(n_positions=10**12),
        "has tensor wpe.weight of shape (32, 16), not the (1000000000000, 16)",
    ),
    "absurd layer count": (lambda config: config.update(n_layer=10**6), "says n_layers=1000000"),
    "untied without a head": (
        lambda config: config.update(tie_word_embeddings=False),
        "lacks tensor lm_head.weight",
    ),
}


@pytest.mark.parametrize("edit, message", EDITED_HF_CONFIGS.values(), ids=EDITED_HF_CONFIGS)
def test_a_huggingface_folder_whose_config_lies_is_one_line(tmp_path, edit, message):
    folder = huggingface_folder(tmp_path, edit)
    (tmp_path / "story.txt").write_text("Every effort moves you. " * 20)
    for script, request in (("generate.py", "prompt=Hi"), ("evaluate.py", "text_path=story.txt")):
        result = run_script(script, f"ckpt={folder}", request, cwd=tmp_path, timeout=60)
        assert_one_line_error(result, message)


def test_a_checkpoint_without_the_tied_heads_copy_loads(tmp_path):
    ckpt = project_checkpoint(tmp_path, lambda settings, state: state.pop("model.lm_head.weight"))
    model = load_model(ckpt)
    assert model.lm_head.weight is model.wte.weight


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home folder of its own, for ``~`` to name."""
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_home_in_a_quoted_or_unexpanded_path_is_the_home_folder_and_a_number_is_a_path(tmp_path, home):
    # As Hydra asks paths with spaces to be written, or as zsh passes "key=~/x": no shell expands it.
    env = script_env(tmp_path, HOME=str(home))
    project_checkpoint(home, lambda settings, state: None)
    for ckpt in ("ckpt='~/edited.ckpt'", "ckpt=~/edited.ckpt"):
        result = run_script("generate.py", ckpt, "prompt=Hi", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert f"Loaded checkpoint {home / 'edited.ckpt'}" in result.stderr
    result = run_script("prepare_data.py", "data=verdict", "out_dir='~/prepared'", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert list((home / "prepared").glob("*.bin")) and not (tmp_path / "~").exists()
    # A folder named like a number is a path, not Hydra's int 2024.
    result = run_script("prepare_data.py", "data=verdict", "out_dir=2024", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "2024").glob("*.bin"))


@pytest.mark.parametrize(
    "override, expanded",
    [
        ("data.path=~/corpus.txt", "data.path='{home}/corpus.txt'"),
        ('+init.path="~/x y"', "+init.path='{home}/x y'"),
        ("paths.log_dir=~", "paths.log_dir='{home}'"),
        ("prompt='~/not a path'", "prompt='~/not a path'"),
        ("~ckpt_path", "~ckpt_path"),
        ("ckpt=outputs/~run", "ckpt=outputs/~run"),
        ("ckpt_path=~/a,~/b,c", "ckpt_path='{home}/a','{home}/b','c'"),
        ("data.path=glob(~/*.txt)", "data.path=glob(~/*.txt)"),
        ("out_dir=2024", "out_dir='2024'"),
        ("ckpt=1e3", "ckpt='1e3'"),
        ("ckpt_path=null", "ckpt_path=null"),
        ("seed=2024", "seed=2024"),
        ("resume='2024'", "resume='2024'"),
    ],
)
def test_only_path_settings_have_home_written_out_and_numbers_quoted(monkeypatch, home, override, expanded):
    monkeypatch.setenv("HOME", str(home))
    assert path_override(override) == expanded.format(home=home)
