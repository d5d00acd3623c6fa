"""Resuming checks a checkpoint's tensors, not only its settings: a file whose settings match
the config but whose tensors do not (edited, or damaged) is one CheckpointError before the
data and the model are built, not a traceback from Lightning's load_state_dict."""

from __future__ import annotations

import pytest
import torch

from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.launch import check_checkpoint

CONFIG = GPTConfig(vocab_size=101, context_length=16, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)
ADAMW = "torch.optim.AdamW"


def write_checkpoint(path, edit=lambda state: None):
    torch.manual_seed(0)
    state = {f"model.{name}": tensor for name, tensor in GPT(CONFIG).state_dict().items()}
    edit(state)
    torch.save(
        {
            "hyper_parameters": {"model": CONFIG.to_dict(), "optimizer": {"_target_": ADAMW}},
            "optimizer_states": [{}],
            "state_dict": state,
        },
        path,
    )
    return path


def drop(name):
    return lambda state: state.pop(name)


def reshape(name):
    return lambda state: state.update({name: state[name][:-1]})


def test_a_checkpoint_whose_tensors_fit_its_settings_passes(tmp_path):
    check_checkpoint(write_checkpoint(tmp_path / "last.ckpt"), CONFIG.to_dict(), ADAMW)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            drop("model.h.1.mlp.c_proj.weight"),
            "lacks tensor h.1.mlp.c_proj.weight, which its own config implies",
        ),
        (reshape("model.wpe.weight"), "has tensor wpe.weight of shape (15, 12), not the (16, 12)"),
        (drop("model.wte.weight"), "lacks tensor wte.weight"),
    ],
)
def test_tensors_that_do_not_fit_matching_settings_are_refused_in_one_line(tmp_path, edit, problem):
    path = write_checkpoint(tmp_path / "last.ckpt", edit)
    with pytest.raises(CheckpointError) as refused:
        check_checkpoint(path, CONFIG.to_dict(), ADAMW)
    message = str(refused.value)
    assert message.startswith(f"{path} ") and problem in message and "\n" not in message
