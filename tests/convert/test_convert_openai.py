"""OpenAI TF checkpoints: the converted model computes what transformers' GPT-2 computes."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
import torch

from gpt_experiments.convert.openai_tf import project_name, read_openai
from gpt_experiments.convert.pretrained import load_into_model, model_from_pretrained
from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPT
from tests.convert.gpt2_checkpoints import TINY_HPARAMS, hf_reference, openai_arrays, write_openai_folder


@pytest.fixture(scope="module")
def pretrained(openai_folder):
    return read_openai(openai_folder)


def test_tf_names_map_to_project_names():
    assert project_name("model/wte") == "wte.weight"
    assert project_name("model/h11/attn/c_attn/w") == "h.11.attn.c_attn.weight"
    assert project_name("model/h0/ln_2/g") == "h.0.ln_2.weight"
    assert project_name("model/ln_f/b") == "ln_f.bias"


def test_logits_match_transformers_reference(pretrained, tiny_arrays, tiny_tokens):
    model = model_from_pretrained(pretrained)
    reference = hf_reference(tiny_arrays, TINY_HPARAMS)
    with torch.no_grad():
        ours, theirs = model(tiny_tokens), reference(tiny_tokens).logits
    assert ours.shape == theirs.shape == (*tiny_tokens.shape, TINY_HPARAMS["n_vocab"])
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=0), (ours - theirs).abs().max()


def test_tied_head_stays_one_tensor(pretrained):
    model = model_from_pretrained(pretrained)
    assert model.lm_head.weight is model.wte.weight
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()
    assert torch.equal(model.wte.weight, pretrained.state["wte.weight"])


def test_loading_in_place_keeps_parameters_and_tie(pretrained):
    model = GPT(pretrained.config)
    before = {name: param for name, param in model.named_parameters()}
    load_into_model(model, pretrained)
    assert all(param is before[name] for name, param in model.named_parameters())
    assert model.lm_head.weight is model.wte.weight


def test_shorter_context_keeps_first_positions(pretrained, tiny_arrays, tiny_tokens):
    model = model_from_pretrained(pretrained, context_length=9)
    assert torch.equal(model.wpe.weight, pretrained.state["wpe.weight"][:9])
    reference = hf_reference(tiny_arrays, TINY_HPARAMS)
    with torch.no_grad():
        ours, theirs = model(tiny_tokens[:, :9]), reference(tiny_tokens[:, :9]).logits
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=0)


def test_longer_context_is_a_one_line_error(pretrained):
    model = GPT(replace(pretrained.config, context_length=40))
    with pytest.raises(CheckpointError) as err:
        load_into_model(model, pretrained)
    assert "model.context_length=40" in str(err.value) and "<=17" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "value"), [("emb_dim", 25), ("n_layers", 2), ("n_heads", 4), ("vocab_size", 50257)]
)
def test_other_size_is_a_one_line_error(pretrained, key, value):
    """Like loading a 355M checkpoint into gpt2_small's shapes."""
    model = GPT(replace(pretrained.config, **{key: value}))
    with pytest.raises(CheckpointError) as err:
        load_into_model(model, pretrained)
    message = str(err.value)
    assert f"model.{key}={value}" in message and "choose the model config matching" in message
    assert "\n" not in message


def test_wrong_tensor_shape_is_a_one_line_error(pretrained):
    broken = replace(pretrained, state={**pretrained.state, "h.1.mlp.c_fc.weight": torch.zeros(3, 3)})
    with pytest.raises(CheckpointError, match=r"h\.1\.mlp\.c_fc\.weight has shape \(3, 3\)") as err:
        load_into_model(GPT(pretrained.config), broken)
    assert "\n" not in str(err.value)


def test_missing_files_are_named(openai_folder, tmp_path):
    partial = shutil.copytree(openai_folder, tmp_path / "partial")
    (partial / "model.ckpt.index").unlink()
    (partial / "hparams.json").unlink()
    with pytest.raises(CheckpointError) as err:
        read_openai(partial)
    message = str(err.value)
    assert "hparams.json" in message and "model.ckpt.index" in message and "download_gpt2.py" in message
    assert "\n" not in message


def test_medium_shaped_checkpoint_refused_by_small_model(tmp_path):
    """A bigger (deeper, wider, more heads) checkpoint into the tiny model: refused before copying."""
    bigger = {**TINY_HPARAMS, "n_embd": 24, "n_head": 6, "n_layer": 4}
    folder = write_openai_folder(tmp_path / "bigger", openai_arrays(bigger, seed=3), bigger)
    bigger_pretrained = read_openai(folder)
    small = GPT(replace(bigger_pretrained.config, emb_dim=20, n_heads=5, n_layers=3))
    with pytest.raises(CheckpointError, match="emb_dim=24 but model.emb_dim=20"):
        load_into_model(small, bigger_pretrained)
