"""The convert command: conversions chain exactly; errors are one line, not a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from gpt_experiments.checkpoints.project import load_model, save_model
from gpt_experiments.cli.convert import main as convert_main
from gpt_experiments.convert.formats import load_any_model
from gpt_experiments.convert.huggingface import write_huggingface
from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.callbacks.pretrained_init import PretrainedInit
from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "convert_checkpoint.py"


def test_openai_to_project_to_huggingface_and_back(openai_folder, tmp_path):
    ckpt, hf, back = tmp_path / "tiny.ckpt", tmp_path / "hf", tmp_path / "back.ckpt"
    convert_main([str(openai_folder), str(ckpt), "--to", "project"])
    convert_main([str(ckpt), str(hf), "--to", "huggingface"])
    convert_main([str(hf), str(back), "--to", "project", "--from", "huggingface"])
    original, final = load_any_model(openai_folder).state_dict(), load_model(back).state_dict()
    assert all(torch.equal(original[name], final[name]) for name in original)


def test_error_is_one_line_on_stderr(openai_folder, tmp_path, capsys):
    (tmp_path / "hparams.json").write_text((openai_folder / "hparams.json").read_text())
    with pytest.raises(SystemExit) as exited:
        convert_main([str(tmp_path), str(tmp_path / "out.ckpt"), "--to", "project"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: OpenAI checkpoint folder") and "model.ckpt.index" in err
    assert err.count("\n") == 1


def test_script_exits_non_zero_without_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "missing"),
            str(tmp_path / "out"),
            "--to",
            "huggingface",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert (
        result.stderr == f"error: {tmp_path / 'missing'} does not exist: pass a checkpoint folder or file\n"
    )


def test_a_rotary_model_is_refused_by_gpt2_formats_and_generates_from_its_own_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1, pos_embedding="rope"
    )
    checkpoint = save_model(GPT(config), tmp_path / "rope.ckpt")
    with pytest.raises(SystemExit) as exited:
        convert_main([str(checkpoint), str(tmp_path / "hf"), "--to", "huggingface"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {checkpoint} has parts GPT-2's formats cannot hold (model.pos_embedding=rope): keep it a "
        "project checkpoint (--to project), which generate.py and evaluate.py read\n"
    )
    assert not (tmp_path / "hf").exists()
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate.py"), f"ckpt={checkpoint}", "prompt=Every effort"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith("Every effort") and len(generated.stdout) > len("Every effort\n")


def integer_weights(source: Path, tmp_path: Path) -> Path:
    """A copy of ``source`` (a project checkpoint or Hugging Face folder) with integer weights."""
    if source.is_dir():
        folder = Path(shutil.copytree(source, tmp_path / "int_hf"))
        weights = load_file(folder / "model.safetensors")
        save_file(
            {name: (100 * w).to(torch.int32) for name, w in weights.items()}, folder / "model.safetensors"
        )
        return folder
    checkpoint = torch.load(source, weights_only=True)
    checkpoint["state_dict"] = {
        name: (100 * w).to(torch.int32) for name, w in checkpoint["state_dict"].items()
    }
    torch.save(checkpoint, tmp_path / "int.ckpt")
    return tmp_path / "int.ckpt"


@pytest.mark.parametrize("kind", ["project", "huggingface"])
def test_integer_weights_are_refused_in_one_line(tmp_path, capsys, kind):
    # A Hugging Face folder's were cast into the model without a word; a project checkpoint's
    # ended in a load_state_dict traceback.
    config = GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1)
    checkpoint = save_model(GPT(config), tmp_path / "model.ckpt")
    source = checkpoint if kind == "project" else write_huggingface(GPT(config), tmp_path / "hf")
    capsys.readouterr()  # the export's progress bar
    with pytest.raises(SystemExit) as exited:
        convert_main([str(integer_weights(source, tmp_path)), str(tmp_path / "out.ckpt"), "--to", "project"])
    assert exited.value.code == 1
    err = capsys.readouterr().err.split("\r")[-1]  # after the reader's progress bar
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "has tensor wte.weight of dtype int32, not a floating-point one" in err
    assert not (tmp_path / "out.ckpt").exists()


def test_a_training_run_started_from_integer_weights_is_refused_before_they_are_copied(tmp_path):
    """init= reads the weights through the same readers as convert: the check is theirs."""
    config = GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1)
    folder = integer_weights(write_huggingface(GPT(config), tmp_path / "hf"), tmp_path)
    module = SimpleNamespace(model=GPT(config))
    before = {name: tensor.clone() for name, tensor in module.model.state_dict().items()}
    with pytest.raises(
        CheckpointError, match="has tensor wte.weight of dtype int32, not a floating-point one"
    ):
        PretrainedInit(str(folder), "huggingface").on_fit_start(SimpleNamespace(ckpt_path=None), module)
    assert all(torch.equal(before[name], tensor) for name, tensor in module.model.state_dict().items())
