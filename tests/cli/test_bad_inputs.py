"""Every bad input ends with one line naming the problem and the fix, and damages nothing.

Hydra-level mistakes and a few others run ``scripts/train.py`` in a subprocess (exit code,
no traceback, no run folder, pre-existing files untouched). The rest call the same
``prepare_run`` the script calls first, in-process, to keep the suite fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gpt_experiments.config import register_resolvers
from gpt_experiments.errors import UserError
from gpt_experiments.training.launch import prepare_run
from tests.helpers import ROOT, run_script

CONF_DIR = ROOT / "conf"
TINY = ["model=tiny", "trainer.enable_progress_bar=false"]
TINY_MODEL = {"vocab_size": 50257, "context_length": 32, "emb_dim": 24, "n_heads": 3, "n_layers": 2}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with an earlier run's checkpoint (of the tiny model) and some bad files."""
    checkpoints = tmp_path / "outputs" / "runs" / "earlier" / "checkpoints"
    checkpoints.mkdir(parents=True)
    checkpoint = {
        "hyper_parameters": {"model": {**TINY_MODEL, "drop_rate": 0.0, "qkv_bias": True}},
        "optimizer_states": [],
        "state_dict": {},
    }
    torch.save(checkpoint, checkpoints / "last.ckpt")
    (tmp_path / "truncated.ckpt").write_bytes((checkpoints / "last.ckpt").read_bytes()[:100])
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait " * 10)
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "no_text").mkdir()
    (tmp_path / "no_text" / "data.bin").write_bytes(b"\x00")
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, except the token cache (filling it is not damage)."""
    files = (
        p for p in sorted(folder.rglob("*")) if p.is_file() and "cache" not in p.relative_to(folder).parts
    )
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


EARLIER = "outputs/runs/earlier/checkpoints/last.ckpt"

SCRIPT_CASES = {
    "unknown key": (
        ["trainer.max_epoch=3"],
        "unknown config key 'trainer.max_epoch' (did you mean trainer.max_epochs?)",
    ),
    "unknown group option": (
        ["model=gpt3"],
        "unknown option 'model=gpt3' for group model; available: gpt2_large, gpt2_medium, gpt2_small, "
        "gpt2_xl, tiny",
    ),
    "unknown option in a sweep": (
        ["-m", "model=tiny,gpt3"],
        "unknown option 'model=gpt3' for group model; available: gpt2_large, gpt2_medium, gpt2_small, "
        "gpt2_xl, tiny",
    ),
    "unparsable override": (
        ["max_epochs"],
        "cannot parse override 'max_epochs' (missing EQUAL at '<EOF>'): write key=value, e.g. model=tiny",
    ),
    "wrong type": (
        ["trainer.max_epochs=abc"],
        "trainer.max_epochs='abc' has the wrong type: it must be an integer or null",
    ),
    "checkpoint of another model size": (
        ["model=gpt2_small", f"ckpt_path={EARLIER}"],
        f"{EARLIER} holds a different model (model.context_length=32 model.emb_dim=24 model.n_heads=3 "
        "model.n_layers=2) than the config (context_length=256, emb_dim=768, n_heads=12, n_layers=12): "
        "pass model.context_length=32 model.emb_dim=24 model.n_heads=3 model.n_layers=2, or leave out "
        "ckpt_path/resume to start afresh",
    ),
    "not a checkpoint": (
        [*TINY, "ckpt_path=notes.txt"],
        "notes.txt is not a checkpoint file (neither a zip archive nor a pickle): "
        "pass a .ckpt written by scripts/train.py or a converted .pt",
    ),
    "not UTF-8": (
        [*TINY, "data=text", "data.path=latin1.txt"],
        "latin1.txt is not UTF-8 (byte 3: b'\\xe9'): convert it, or set data.encoding_errors=replace",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "message"), SCRIPT_CASES.values(), ids=SCRIPT_CASES.keys())
def test_train_script_rejects_bad_input_in_one_line(workspace, overrides, message):
    before = snapshot(workspace)
    result = run_script("train.py", *overrides, cwd=workspace, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(workspace) == before  # no run folder, no cache, earlier checkpoint unchanged


STRIDE_HINT = "it must be a positive integer (stride = max_length gives non-overlapping windows)"
IN_PROCESS_CASES = {
    "typo in a group's key": (
        ["model.n_head=4"],
        "unknown config key 'model.n_head' (did you mean model.n_heads?)",
    ),
    "group set to null": (
        ["logger=null"],
        "Config group override must be a string or a list. Got NoneType: to remove a config group write "
        "~group, e.g. ~logger",
    ),
    "wrong type in the optimizer": (
        ["optimizer.lr=abc"],
        "optimizer.lr='abc' has the wrong type: it must be a number or Tensor",
    ),
    "wrong type in data": (
        ["data.batch_size=two"],
        "data.batch_size='two' has the wrong type: it must be an integer",
    ),
    "emb_dim not divisible by n_heads": (
        ["model.emb_dim=25"],
        "model.emb_dim=25 is not divisible by model.n_heads=3: "
        "choose an emb_dim that is a multiple of n_heads",
    ),
    "window longer than the position table": (
        ["data.max_length=300"],
        "data.max_length=300 exceeds model.context_length=256, the size of the position table: "
        "lower data.max_length or raise model.context_length",
    ),
    "stride zero": (
        ["data.stride=0"],
        f"data.stride=0 is invalid: {STRIDE_HINT}",
    ),
    "stride negative": (
        ["data.stride=-8"],
        f"data.stride=-8 is invalid: {STRIDE_HINT}",
    ),
    "batch size zero": (["data.batch_size=0"], "data.batch_size=0 is invalid: it must be a positive integer"),
    "split ratio 1": (
        ["data.train_ratio=1.0"],
        "data.train_ratio=1.0 is invalid: it must be strictly between 0 and 1",
    ),
    "split ratio 0": (
        ["data.train_ratio=0"],
        "data.train_ratio=0 is invalid: it must be strictly between 0 and 1",
    ),
    "missing data path": (
        ["data=text", "data.path=missing.txt"],
        "data.path missing.txt does not exist: point data.path at a text file, directory or glob",
    ),
    "data path not set": (["data=text"], "data.path is not set: pass data.path=..."),
    "empty file": (["data=text", "data.path=empty.txt"], "empty.txt is empty: give a file with text in it"),
    "directory without text": (
        ["data=text", "data.path=no_text"],
        "data.path directory no_text holds no text files (.md, .text, .txt)",
    ),
    "split too short": (
        ["model.context_length=1024"],
        "the val split has 534 tokens, too few for one window of max_length 1024 (+1 target): use more "
        "text, a shorter model.context_length or a different data.train_ratio",
    ),
    "no end of training": (
        ["trainer.max_epochs=null"],
        "trainer.max_epochs=None and trainer.max_steps=-1 leave the run without an end (or without a single "
        "step): set trainer.max_epochs or trainer.max_steps to a positive number",
    ),
    "negative epochs": (
        ["trainer.max_epochs=-2"],
        "trainer.max_epochs=-2 is invalid: it must be positive, or null",
    ),
    "negative steps": (
        ["trainer.max_steps=-5"],
        "trainer.max_steps=-5 is invalid: it must be positive, or -1 for no limit",
    ),
    "top_k zero": (
        ["sampler.top_k=0"],
        "sampler.top_k=0 is invalid: it must be between 1 and the vocabulary size 50257, or null to disable",
    ),
    "negative temperature": (
        ["sampler.temperature=-1"],
        "sampler.temperature=-1 is invalid: it must be >= 0 (0 means greedy)",
    ),
    "top_p above 1": (
        ["sampler.top_p=1.5"],
        "sampler.top_p=1.5 is invalid: it must be in (0, 1], or null to disable",
    ),
    "truncated checkpoint": (
        ["ckpt_path=truncated.ckpt"],
        "truncated.ckpt is not a readable checkpoint (RuntimeError): "
        "the file is truncated, corrupt or of another format",
    ),
    "resume target missing": (
        ["resume=outputs/runs/nope"],
        "resume=outputs/runs/nope does not exist: pass resume=auto, a run folder or a .ckpt file",
    ),
    "zero steps": (
        ["trainer.max_steps=0"],
        "trainer.max_steps=0 would train nothing: set a positive number of steps, or -1 for no limit",
    ),
    "negative learning rate": (
        ["optimizer.lr=-1"],
        "torch.optim.AdamW refused the optimizer settings (Invalid learning rate: -1): "
        "fix that optimizer.* value",
    ),
    "accelerator this machine lacks": (
        ["trainer.accelerator=tpu"],
        "trainer.accelerator=tpu is not available on this machine: use trainer.accelerator=auto (or cpu)",
    ),
    "init without its path": (["init=project"], "init.path is not set: pass init.path=..."),
    "eos_id negative": (
        ["sampler.eos_id=-5"],
        "sampler.eos_id=-5 is invalid: it must be a token id below 50257, or null to never stop early",
    ),
    "resume and ckpt_path": (
        ["resume=auto", f"ckpt_path={EARLIER}"],
        "resume= and ckpt_path= are both set: use resume= alone",
    ),
}


@pytest.mark.parametrize(("overrides", "message"), IN_PROCESS_CASES.values(), ids=IN_PROCESS_CASES.keys())
def test_bad_input_is_a_one_line_error_before_anything_is_written(workspace, monkeypatch, overrides, message):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("GPT_EXPERIMENTS_CACHE", str(workspace / "cache"))
    register_resolvers()
    before = snapshot(workspace)
    with pytest.raises(UserError) as info:
        prepare_run(CONF_DIR, "train", [*TINY, *overrides])
    assert str(info.value) == message
    assert snapshot(workspace) == before
