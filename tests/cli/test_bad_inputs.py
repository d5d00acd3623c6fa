"""Every bad input ends with one line naming the problem and the fix, and damages nothing.

Hydra-level mistakes and a few others run ``scripts/train.py`` in a subprocess (exit code,
no traceback, no run folder, pre-existing files untouched). The rest call the same
``prepare_run`` the script calls first, in-process, to keep the suite fast.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpt_experiments.config import register_resolvers
from gpt_experiments.errors import UserError
from gpt_experiments.run_folder.provenance import PROVENANCE_FILE
from gpt_experiments.training.console_log import CONSOLE_LOG
from gpt_experiments.training.launch import prepare_run
from tests.convert.test_download import server  # noqa: F401  (a fixture: the local mirror)
from tests.helpers import ROOT, TINY_RUN, run_script, script_env

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
        "gpt2_xl, ladder, tiny",
    ),
    "unknown option in a sweep": (
        ["-m", "model=tiny,gpt3"],
        "unknown option 'model=gpt3' for group model; available: gpt2_large, gpt2_medium, gpt2_small, "
        "gpt2_xl, ladder, tiny",
    ),
    "unparsable override": (
        ["max_epochs"],
        "cannot parse override 'max_epochs' (missing EQUAL at '<EOF>'): write key=value, e.g. model=tiny",
    ),
    "wrong type": (
        ["trainer.max_epochs=abc"],
        "trainer.max_epochs='abc' has the wrong type: it must be an integer or null",
    ),
    "a run setting of the wrong type": (
        [*TINY, "seed=abc"],
        "seed='abc' has the wrong type: it must be an integer",
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
    "unquoted non-ASCII path": (
        [*TINY, "data=text", "data.path=café.txt"],
        "cannot parse override 'data.path=café.txt' (token recognition error at: 'é'): "
        "quote the value, e.g. \"data.path='café.txt'\"",
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


# generate.py and evaluate.py check their own values: the same promise, their own subprocesses.
# evaluate.py loads the model first (its tokenizer reads the text): a real, tiny checkpoint.
TINY_CHECKPOINT = ROOT / "tests" / "fixtures" / "pre_layout_run" / "checkpoints" / "last.ckpt"
INFERENCE_CASES = {
    "temperature not a number": (
        ["generate.py", "ckpt=notes.txt", "prompt=hi", "sampler.temperature=abc"],
        "sampler.temperature='abc' has the wrong type: it must be a number",
    ),
    "top_k not an integer": (
        ["generate.py", "ckpt=notes.txt", "prompt=hi", "sampler.top_k=abc"],
        "sampler.top_k='abc' has the wrong type: it must be an integer or null",
    ),
    "fractional max_new_tokens": (
        ["generate.py", "ckpt=notes.txt", "prompt=hi", "sampler.max_new_tokens=2.5"],
        "sampler.max_new_tokens=2.5 has the wrong type: it must be an integer",
    ),
    "text file named like a checkpoint": (
        ["generate.py", "ckpt=notes.ckpt", "prompt=hi"],
        "notes.ckpt is not a checkpoint file (neither a zip archive nor a pickle): "
        "pass a .ckpt written by scripts/train.py or a converted .pt",
    ),
    "unknown device": (
        ["generate.py", "ckpt=notes.ckpt", "prompt=hi", "device=tpu9"],
        "device='tpu9' is not a torch device: use cpu, cuda, mps or auto",
    ),
    "evaluating a non-UTF-8 text": (
        ["evaluate.py", f"ckpt={TINY_CHECKPOINT}", "text_path=latin1.txt"],
        "latin1.txt is not UTF-8 (byte 3: b'\\xe9'): convert it to UTF-8",
    ),
    "evaluating a missing text": (
        ["evaluate.py", f"ckpt={TINY_CHECKPOINT}", "text_path=nope.txt"],
        "text file nope.txt does not exist: pass text_path=<file or glob>",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "message"), INFERENCE_CASES.values(), ids=INFERENCE_CASES.keys())
def test_inference_scripts_reject_bad_input_in_one_line(workspace, argv, message):
    (workspace / "notes.ckpt").write_text("not a checkpoint\n")
    before = snapshot(workspace)
    result = run_script(*argv, cwd=workspace, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(workspace) == before


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
    "misspelt scheduler setting": (
        ["scheduler=warmup_cosine", "+scheduler.warmup_step=5"],
        "scheduler.warmup_step is not a setting of warmup_cosine_schedule: "
        "remove it (~scheduler.warmup_step on the command line) or use one of: warmup_steps, min_lr_ratio",
    ),
    "experiment's setting left over after switching the group": (
        ["experiment=scaling_ladder", "scheduler=constant"],
        "scheduler.warmup_steps is not a setting of constant_schedule: remove it "
        "(~scheduler.warmup_steps on the command line) or constant_schedule takes no settings",
    ),
    "wrong type in the scheduler": (
        ["scheduler=warmup_cosine", "scheduler.warmup_steps=1.5"],
        "scheduler.warmup_steps=1.5 has the wrong type: it must be an integer",
    ),
    "misspelt callback setting": (
        ["+callbacks.text_samples.every_n_epoch=2"],
        "callbacks.text_samples.every_n_epoch is not a setting of TextSamples: "
        "remove it (~callbacks.text_samples.every_n_epoch on the command line) or use one of: "
        "sampler, every_n_epochs",
    ),
    "misspelt init setting": (
        ["init=project", "init.path=x.ckpt", "+init.format=project"],
        "init.format is not a setting of PretrainedInit: "
        "remove it (~init.format on the command line) or use one of: path, fmt",
    ),
    "wrong type in a nested target": (
        ["trainer=fsdp", "trainer.strategy.activation_checkpointing=maybe"],
        "trainer.strategy.activation_checkpointing='maybe' has the wrong type: it must be true or false",
    ),
    "target that does not exist": (
        ["scheduler._target_=gpt_experiments.training.schedules.cosine"],
        "scheduler._target_='gpt_experiments.training.schedules.cosine' cannot be imported: "
        "name an existing class or function",
    ),
    "emb_dim not divisible by n_heads": (
        ["model.emb_dim=25"],
        "model.emb_dim=25 is not divisible by model.n_heads=3: "
        "choose an emb_dim that is a multiple of n_heads",
    ),
    "window longer than the position table": (
        ["data.max_length=300"],
        "data.max_length=300 exceeds model.context_length=32, the size of the position table: "
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
    "vocabulary smaller than the tokenizer's": (
        ["model.vocab_size=100"],
        "model.vocab_size=100 is smaller than the gpt2 tokenizer (50257 tokens): "
        "set model.vocab_size=null to follow the tokenizer, or at least 50257",
    ),
    "unknown tokenizer file": (
        ["tokenizer=huggingface", "tokenizer.path=missing.json"],
        "tokenizer.path='missing.json' is not a file: give a Hugging Face tokenizer.json",
    ),
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
        "trainer.max_epochs=None and trainer.max_steps=-1 leave the run without an end: "
        "set trainer.max_epochs or trainer.max_steps to a positive number (or max_tokens)",
    ),
    "epochs until max_steps, which is unlimited": (
        ["trainer.max_epochs=-1"],
        "trainer.max_epochs=-1 and trainer.max_steps=-1 leave the run without an end: "
        "set trainer.max_epochs or trainer.max_steps to a positive number (or max_tokens)",
    ),
    "negative epochs": (
        ["trainer.max_epochs=-2"],
        "trainer.max_epochs=-2 is invalid: it must be positive, -1 to train until trainer.max_steps "
        "(or max_tokens), or null",
    ),
    "zero epochs": (
        ["trainer.max_epochs=0", "trainer.max_steps=5"],
        "trainer.max_epochs=0 would train nothing: set a positive number, or -1 for no limit",
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
        "trainer.max_steps=0 would train nothing: set a positive number, or -1 for no limit",
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
    "muon under fsdp": (
        ["optimizer=muon", "trainer=fsdp2"],
        "optimizer=muon orthogonalises whole weight matrices, which FSDP shards across ranks: "
        "train it with trainer=ddp or on one device",
    ),
    "muon refuses a value": (
        ["optimizer=muon", "optimizer.momentum=-0.5"],
        "gpt_experiments.training.muon.MuonWithAdamW refused the optimizer settings "
        "(momentum should be >= 0 but is: -0.5): fix that optimizer.* value",
    ),
    "unknown model part": (
        ["model.norm=batchnorm"],
        "model.norm='batchnorm' is unknown: use one of layernorm, rmsnorm",
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


# --- OS faults: a read-only destination and a full disk -----------------------------------
#
# Each command runs in a private mount namespace (``unshare -m``, needs root or CAP_SYS_ADMIN):
# the destination is bind-mounted read-only, or replaced by a small tmpfs holding a copy of
# its files; what the tmpfs holds afterwards is copied out to be compared. Where namespaces
# are not allowed these cases skip, and the patched writers in tests/convert and
# tests/data still check the messages.

FAULT_SCRIPT = """
set -e
target=$1; fault=$2; after=$3; shift 3
if [ "$fault" = read-only ]; then
    mount --bind "$target" "$target" && mount -o remount,ro,bind "$target"
else  # $fault is a size: a tmpfs that holds the folder's files and little more
    seed=$(mktemp -d) && cp -a "$target/." "$seed/"
    mount -t tmpfs -o "size=$fault" tmpfs "$target" && cp -a "$seed/." "$target/" && rm -rf "$seed"
fi
set +e
"$@"; status=$?
mkdir -p "$after" && cp -a "$target/." "$after/"
exit $status
"""


def namespaces_allowed() -> bool:
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(
    shutil.which("unshare") is None or not namespaces_allowed(),
    reason="needs unshare -m and mount (root): private mount namespaces",
)


def run_with_fault(
    target: Path, fault: str | int, argv: list[str], cwd: Path
) -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``argv`` with ``target`` read-only (``fault="read-only"``), or on a tmpfs with
    ``fault`` bytes free after its files; returns the result and what ``target`` held after."""
    after = cwd / f"after-{target.name}"
    if isinstance(fault, int):  # tmpfs counts whole 4 KiB pages per file
        pages = sum(-(-p.stat().st_size // 4096) + 1 for p in target.rglob("*"))
        fault = str(4096 * pages + fault)
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", FAULT_SCRIPT, "sh", str(target), fault, str(after), *argv],
        cwd=cwd,
        env=script_env(cwd),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, after


# The run's records that a resume adds to by design (its provenance entry, its console lines):
# checked apart, for keeping all they held.
APPENDED_RECORDS = (PROVENANCE_FILE, CONSOLE_LOG)


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file, except the lock (it holds the last holder's pid), the run's
    .hydra/ (a resume rewrites it with the merged overrides, by design, before training) and
    the ``APPENDED_RECORDS``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock" and ".hydra" not in p.parts and p.name not in APPENDED_RECORDS
    }


def appended_records(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.name in APPENDED_RECORDS
    }


def assert_only_added_to(before: dict[str, str], after: Path) -> None:
    """Each record still holds what it held: the log's lines, the provenance's run and resumes."""
    for name, text in before.items():
        now = (after / name).read_text()
        if name.endswith(CONSOLE_LOG):
            assert now.startswith(text), name
        else:
            old, new = json.loads(text), json.loads(now)
            assert {k: v for k, v in new.items() if k != "resumes"} == {
                k: v for k, v in old.items() if k != "resumes"
            }
            assert new["resumes"][: len(old["resumes"])] == old["resumes"]


def empty_folders(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir() and not any(p.iterdir())}


@pytest.fixture(scope="session")  # not "module": see the reference run in test_resume_devices.py
def prepared_run(tmp_path_factory) -> Path:
    """A workspace with one finished tiny run (3 steps, a checkpoint) and an earlier HF export."""
    workspace = tmp_path_factory.mktemp("prepared")
    result = run_script(
        "train.py",
        *TINY_RUN,
        "trainer.max_epochs=null",
        "trainer.max_steps=3",
        "trainer.limit_val_batches=1",
        "hydra.run.dir=outputs/run",
        cwd=workspace,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    convert = run_script(
        "convert_checkpoint.py", "outputs/run", "export", "--to", "huggingface", cwd=workspace
    )
    assert convert.returncode == 0, convert.stderr[-3000:]
    (workspace / "models" / "124M").mkdir(parents=True)
    (workspace / "models" / "124M" / "notes.txt").write_text("downloaded by hand\n")
    return workspace


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / script), *args]


RESUME_ONE_MORE_STEP = [*TINY_RUN, "trainer.max_epochs=null", "trainer.max_steps=4", "resume=outputs/run"]
TRAIN, RESUME = python("train.py", *TINY_RUN), python("train.py", *RESUME_ONE_MORE_STEP)
TOKENIZE = python("train.py", *TINY_RUN, "data=tinyshakespeare")  # not in the cache yet
CONVERT = python("convert_checkpoint.py", "outputs/run", "export", "--to", "huggingface", "--overwrite")
# download_gpt2.py with its mirror replaced by the local test server (argv[1]).
DOWNLOAD_CODE = """
import sys
from gpt_experiments.cli import download
from gpt_experiments.convert import download as fetching
fetching.download_gpt2.__defaults__ = (("%s/ok/{size}/{file}" % sys.argv[1],),)
download.main(["124M", "--dest", "models"])
"""
DOWNLOAD = [sys.executable, "-c", DOWNLOAD_CODE, "{server}"]
# The folder made faulty: (fault, command, its last line: {cwd} is the workspace, * any text).
# A fault of N bytes is a full disk with N bytes free.
OS_FAULT_CASES = {
    "training into a read-only outputs/": (
        "outputs",
        "read-only",
        TRAIN,
        "error: outputs: Read-only file system: choose another paths.log_dir",
    ),
    "resuming a run in a read-only folder": (
        "outputs/run",
        "read-only",
        RESUME,
        "error: {cwd}/outputs/run/.lock: Read-only file system",
    ),
    "resuming onto a full disk": (
        "outputs",
        1 << 20,
        RESUME,
        "error: {cwd}/outputs/run/checkpoints/last.ckpt: No space left on device*",
    ),
    "a read-only token cache": (
        "cache",
        "read-only",
        TOKENIZE,
        "error: {cwd}/cache: Read-only file system: the token cache has no entry for this data yet and "
        "tokenizing must write one: set data.cache_dir to a writable folder",
    ),
    "a full token cache": ("cache", 64 << 10, TOKENIZE, "error: {cwd}/cache/*: No space left on device"),
    "converting into a read-only folder": (
        "export",
        "read-only",
        CONVERT,
        "error: export/model.safetensors: Read-only file system",
    ),
    "converting onto a full disk": (
        "export",
        256 << 10,
        CONVERT,
        "error: export/model.safetensors: No space left on device",
    ),
    "downloading into a read-only folder": (
        "models",
        "read-only",
        DOWNLOAD,
        "error: models/124M/checkpoint.part: Read-only file system",
    ),
    "downloading onto a full disk": (
        "models",
        4 << 10,
        DOWNLOAD,
        "error: models/124M/*.part: No space left on device",
    ),
}


@pytest.mark.slow
@needs_namespaces
@pytest.mark.xdist_group("prepared_run")  # one worker runs them all, so the run is trained once
@pytest.mark.parametrize(
    ("folder", "fault", "argv", "message"), OS_FAULT_CASES.values(), ids=OS_FAULT_CASES.keys()
)
def test_os_fault_is_one_line_and_damages_nothing(prepared_run, server, folder, fault, argv, message):  # noqa: F811
    target = prepared_run / folder
    before, empty_before, records = hashes(target), empty_folders(target), appended_records(target)
    argv = [arg.replace("{server}", server) for arg in argv]
    result, after = run_with_fault(target, fault, argv, prepared_run)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert fnmatch.fnmatchcase(last_line, message.format(cwd=prepared_run)), last_line
    # Every file the folder held is byte-identical (new files, like a failed run's marker, may appear).
    assert {name: digest for name, digest in hashes(after).items() if name in before} == before
    assert_only_added_to(records, after)
    assert empty_folders(after) <= empty_before  # e.g. no token cache entry left empty
    shutil.rmtree(after)
