"""The settings of other formats' folders (Hugging Face ``config.json``, OpenAI ``hparams.json``):
read whole, every value the conversion depends on checked, never silently ignored."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import GPT2LMHeadModel

from gpt_experiments.cli.convert import main as convert_main
from gpt_experiments.convert.formats import load_any_model
from gpt_experiments.convert.huggingface import write_huggingface
from gpt_experiments.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)


def edited(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder


def edit_json(folder: Path, name: str, edit: Callable[[dict], object]) -> Path:
    settings = json.loads((folder / name).read_text())
    edit(settings)
    return edited(folder, name, json.dumps(settings))


# Each edit of config.json, and what the one line says. All but the JSON's syntax used to end
# in a KeyError or TypeError traceback, or convert without a word into other logits.
HF_EDITS = {
    "not JSON": (lambda f: edited(f, "config.json", "{bad"), "config.json is not valid JSON"),
    "a list": (lambda f: edited(f, "config.json", "[1, 2]"), "holds a JSON list, not an object"),
    "no n_embd": (lambda f: edit_json(f, "config.json", lambda c: c.pop("n_embd")), "lacks n_embd"),
    "size as text": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(n_layer="1")),
        'has n_layer="1", not a whole number',
    ),
    "size as bool": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(n_layer=True)),
        "has n_layer=true, not a whole number",
    ),
    "relu": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(activation_function="relu")),
        'activation_function="relu", but this project computes GPT-2 with "gelu_new"',
    ),
    "epsilon": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(layer_norm_epsilon=0.1)),
        "layer_norm_epsilon=0.1",
    ),
    "unscaled attention": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(scale_attn_weights=False)),
        "scale_attn_weights=false",
    ),
    "tie as text": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(tie_word_embeddings="no")),
        'tie_word_embeddings="no"',
    ),
    "another model": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(model_type="llama")),
        'model_type="llama"',
    ),
    "n_inner as text": (
        lambda f: edit_json(f, "config.json", lambda c: c.update(n_inner="64")),
        'n_inner="64", not null or a positive whole number',
    ),
}


@pytest.mark.parametrize("edit, message", HF_EDITS.values(), ids=HF_EDITS)
def test_an_edited_huggingface_config_is_one_line(tmp_path, capsys, edit, message):
    folder = edit(write_huggingface(GPT(TINY), tmp_path / "hf"))
    capsys.readouterr()  # the export's progress bar
    with pytest.raises(SystemExit) as exited:
        convert_main([str(folder), str(tmp_path / "out.ckpt"), "--to", "project"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.ckpt").exists()


OPENAI_EDITS = {
    "not JSON": (lambda f: edited(f, "hparams.json", "n_layer: 3"), "hparams.json is not valid JSON"),
    "no n_head": (lambda f: edit_json(f, "hparams.json", lambda c: c.pop("n_head")), "lacks n_head"),
    "size as float": (
        lambda f: edit_json(f, "hparams.json", lambda c: c.update(n_embd=20.0)),
        "has n_embd=20.0, not a whole number",
    ),
}


@pytest.mark.parametrize("edit, message", OPENAI_EDITS.values(), ids=OPENAI_EDITS)
def test_an_edited_openai_hparams_is_one_line(openai_folder, tmp_path, capsys, edit, message):
    folder = edit(Path(shutil.copytree(openai_folder, tmp_path / "openai")))
    with pytest.raises(SystemExit) as exited:
        convert_main([str(folder), str(tmp_path / "out.ckpt"), "--to", "project"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_a_model_with_its_own_mlp_width_round_trips_through_huggingface(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**TINY.to_dict(), "mlp_hidden": 24})).eval()
    hf, back = tmp_path / "hf", tmp_path / "back.ckpt"
    write_huggingface(model, hf)
    convert_main([str(hf), str(back), "--to", "project"])  # used to refuse: n_inner was ignored
    tokens = torch.randint(0, TINY.vocab_size, (2, 9))
    with torch.no_grad():
        expected = model(tokens)
        assert torch.equal(load_any_model(back)(tokens), expected)
        reference = GPT2LMHeadModel.from_pretrained(hf).eval()(tokens).logits
    torch.testing.assert_close(reference, expected, rtol=1e-5, atol=1e-5)
