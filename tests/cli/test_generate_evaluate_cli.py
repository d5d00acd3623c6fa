"""scripts/generate.py and scripts/evaluate.py end to end on a tiny checkpoint."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpt_experiments.checkpoints.project import find_checkpoint
from gpt_experiments.devices import has_native_bf16
from gpt_experiments.inference.loading import describe_loaded
from gpt_experiments.inference.sampling import SamplerConfig
from gpt_experiments.inference.text import (
    BATCH_SEPARATOR,
    complete_texts,
    decode_stream,
    print_generations,
    read_prompts,
)
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer import encode

ROOT = Path(__file__).resolve().parents[2]
# The real GPT-2 vocabulary so that any sampled id decodes; everything else tiny.
TINY = GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY).eval()


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory) -> Path:
    """A checkpoint in the project's Lightning format, inside a run folder."""
    run = tmp_path_factory.mktemp("run")
    state = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"model": TINY.to_dict()}}, run / "last.ckpt")
    return run


def run_script(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "scripts" / script), *overrides]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_single_prompt_streams_the_same_text_as_batch_generation(model):
    sampler = SamplerConfig(max_new_tokens=30, temperature=1.0, top_k=50, seed=7)
    out = io.StringIO()
    print_generations(model, ["Every effort moves you"], sampler, out=out)
    assert out.getvalue() == complete_texts(model, ["Every effort moves you"], sampler)[0] + "\n"


def test_streamed_pieces_never_split_a_character():
    text = "Café, naïve 日本語 🙂 done"
    tokens = encode(text)
    assert len(tokens) > len(text.split())  # some characters span several tokens
    pieces = list(decode_stream(tokens))
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


def test_prompts_file_and_defaults(tmp_path):
    file = tmp_path / "prompts.txt"
    file.write_text("first prompt\n\n  \nsecond prompt\n")
    assert read_prompts(None, str(file), ["default"]) == ["first prompt", "second prompt"]
    assert read_prompts("given", None, ["default"]) == ["given"]
    assert read_prompts(None, None, ["default"]) == ["default"]
    with pytest.raises(ValueError, match="not both"):
        read_prompts("given", str(file), [])


@pytest.mark.slow
def test_generate_cli_streams_one_prompt_and_leaves_no_files(checkpoint, tmp_path):
    result = run_script(
        "generate.py",
        f"ckpt={checkpoint}",
        "prompt=Every effort moves you",
        "sampler=greedy",
        "sampler.max_new_tokens=8",
        "device=cpu",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Every effort moves you")
    chosen = "bfloat16" if has_native_bf16(torch.device("cpu")) else "float32"
    loaded = find_checkpoint(checkpoint)
    assert result.stderr.startswith(f"Loaded checkpoint {loaded} [{chosen} weights, precision=auto]\n")
    assert list(tmp_path.iterdir()) == []  # no outputs/, .hydra/ or log file


@pytest.mark.slow
def test_generate_cli_runs_a_prompts_file_in_batches(checkpoint, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Every effort moves you\nI had always\nThe sun\n")
    result = run_script(
        "generate.py",
        f"ckpt={checkpoint}",
        f"prompts_file={prompts}",
        "sampler=nucleus",
        "precision=bf16",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"\n{BATCH_SEPARATOR}\n") == 3
    assert "[bfloat16 weights, precision=bf16]\n" in result.stderr.splitlines(keepends=True)[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["sampler.top_k=0"], "sampler.top_k=0 is invalid"),
        (["sampler.top_p=1.5", "sampler=nucleus"], "sampler.top_p=1.5 is invalid"),
        (["sampler.temperature=-1"], "sampler.temperature=-1 is invalid"),
        (["prompt=" + "word " * 40], "longer than the model's context length 32"),
        (["ckpt=/nonexistent/run"], "does not exist"),
        (["precision=fp16"], "precision='fp16' is unknown: use one of auto, fp32, bf16"),
        (["compile=ture"], "compile='ture' has the wrong type: it must be true or false"),
        (["batch_size=abc"], "batch_size='abc' has the wrong type: it must be an integer or null"),
    ],
)
def test_generate_cli_bad_values_are_one_line_errors(checkpoint, tmp_path, overrides, message):
    result = run_script("generate.py", f"ckpt={checkpoint}", *overrides, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr


@pytest.mark.slow
def test_evaluate_cli_prints_perplexity_json(checkpoint, tmp_path):
    text = tmp_path / "story.txt"
    text.write_text("I had always thought Jack Gisburn rather a cheap genius. " * 8)
    result = run_script("evaluate.py", f"ckpt={checkpoint}", f"text_path={text}", "stride=8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stride"] == 8 and report["context_length"] == 32
    assert report["perplexity"] == pytest.approx(torch.tensor(report["cross_entropy"]).exp().item(), rel=1e-6)
    assert "perplexity" in result.stderr  # the tqdm progress bar
    assert f"Loaded checkpoint {find_checkpoint(checkpoint)}\n" in result.stderr
    assert list(tmp_path.iterdir()) == [text]

    missing = run_script("evaluate.py", f"ckpt={checkpoint}", cwd=tmp_path)
    assert missing.returncode == 1 and "no text to evaluate" in missing.stderr


def test_a_folder_of_runs_says_which_checkpoint_it_chose(model, tmp_path):
    state = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    for run in ("older", "newer"):
        (tmp_path / run / "checkpoints").mkdir(parents=True)
        torch.save(
            {"state_dict": state, "hyper_parameters": {"model": TINY.to_dict()}},
            tmp_path / run / "checkpoints" / "last.ckpt",
        )
    newest = tmp_path / "newer" / "checkpoints" / "last.ckpt"
    os.utime(newest, (2e9, 2e9))
    assert describe_loaded(str(tmp_path / "newer")) == f"Loaded checkpoint {newest}"
    assert describe_loaded(str(tmp_path)) == (
        f"Loaded checkpoint {newest} (the newest of 2 runs under {tmp_path}: "
        "pass a run folder or a .ckpt to choose)"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("stride=abc", "stride='abc' has the wrong type: it must be an integer or null"),
        ("context_length=abc", "context_length='abc' has the wrong type: it must be an integer or null"),
        ("limit=abc", "limit='abc' has the wrong type: it must be an integer or null"),
        ("limit=-5", "limit=-5 is invalid: it must be >= 1, or null to score everything"),
        ("compile=ture", "compile='ture' has the wrong type: it must be true or false"),
    ],
)
def test_evaluate_cli_settings_of_the_wrong_type_are_one_line_errors(checkpoint, tmp_path, override, message):
    text = tmp_path / "story.txt"
    text.write_text("I had always thought Jack Gisburn rather a cheap genius. " * 8)
    result = run_script("evaluate.py", f"ckpt={checkpoint}", f"text_path={text}", override, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {message}"
