"""Sharded (torch.distributed.checkpoint) checkpoints: written by 2 processes, loaded by 1 and back,
gathered into one file, and replaced atomically; a folder with a planted pickle is refused by
every command that reads one, before the pickle can run."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from torch.distributed.checkpoint.metadata import Metadata

from gpt_experiments.checkpoints.project import safe_torch_load
from gpt_experiments.checkpoints.sharded import consolidate, replace_folder, staging_path
from gpt_experiments.errors import CheckpointError
from gpt_experiments.training.resume import newest_loadable_checkpoint
from tests.helpers import TINY_RUN, run_script

# One test worker runs this file's tests, so the sharded run is trained once.
pytestmark = pytest.mark.xdist_group("sharded_run")

SHARDED_RUN = [
    *TINY_RUN,
    "trainer=fsdp2",
    "trainer.strategy.checkpoint=sharded",
    "trainer.precision=32-true",
    "trainer.accelerator=cpu",
    "trainer.limit_val_batches=2",
    "data.eval_train_batches=0",
    "~logger",
    "callbacks.model_checkpoint=null",
    "callbacks.last_checkpoint.every_n_train_steps=3",
]


def train(tmp_path: Path, name: str, *overrides: str) -> str:
    result = run_script(
        "train.py", *SHARDED_RUN, *overrides, f"hydra.run.dir={tmp_path / name}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def max_weight_change(before: dict, after: dict) -> float:
    """The largest change of any model weight (the module's counters, like tokens_seen, left out)."""
    weights = [name for name in before if name.startswith("model.")]
    return max((after[name] - before[name]).abs().max().item() for name in weights)


@pytest.mark.slow
def test_saved_by_two_processes_loaded_by_one_and_back_and_gathered_into_one_file(tmp_path):
    train(tmp_path, "two", "trainer.devices=2", "trainer.max_steps=6")
    saved = tmp_path / "two" / "checkpoints" / "last.ckpt"
    assert sorted(p.name for p in saved.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert not staging_path(saved).exists()
    with pytest.raises(CheckpointError, match="is a sharded checkpoint: gather it"):
        safe_torch_load(saved)

    # Each leg starts with another seed: if the weights were not loaded, they would be a fresh,
    # different initialisation, far (> 0.05) from the saved ones; loaded, 3 AdamW steps of lr
    # 4e-4 move them less than 3e-3.
    # This leg saves asynchronously: its last save completes, and is swapped in, as the run ends.
    one = ["trainer.devices=1", "trainer.max_steps=9", "trainer.strategy.async_save=true"]
    train(tmp_path, "one", *one, f"ckpt_path={saved}", "seed=7")
    resaved = tmp_path / "one" / "checkpoints" / "last.ckpt"
    assert [p.name for p in resaved.glob("*.distcp")] == ["__0_0.distcp"]
    train(tmp_path, "back", "trainer.devices=2", "trainer.max_steps=12", f"ckpt_path={resaved}", "seed=11")

    two, one, back = (
        consolidate(folder / "checkpoints" / "last.ckpt", tmp_path / f"{folder.name}.ckpt")
        for folder in (tmp_path / "two", tmp_path / "one", tmp_path / "back")
    )
    assert [c["global_step"] for c in (two, one, back)] == [6, 9, 12]
    assert 0 < max_weight_change(two["state_dict"], one["state_dict"]) < 3e-3
    assert 0 < max_weight_change(one["state_dict"], back["state_dict"]) < 3e-3

    # The gathered file is an ordinary checkpoint: generate reads it.
    result = run_script(
        "generate.py",
        f"ckpt={tmp_path / 'back.ckpt'}",
        "sampler.max_new_tokens=3",
        "prompt=Every",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def make_sharded(path: Path, step: int) -> None:
    path.mkdir(parents=True)
    (path / ".metadata").write_bytes(pickle.dumps(Metadata(state_dict_metadata={}, storage_data={})))
    torch.save({"global_step": step}, path / "meta.pt")


def test_a_crash_in_a_sharded_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    make_sharded(last, step=3)
    # Killed while writing: the staging folder is incomplete, last.ckpt untouched.
    staging_path(last).mkdir()
    assert newest_loadable_checkpoint(run) == last
    # Killed between the two renames: the old checkpoint is found under its .previous name.
    shutil.rmtree(staging_path(last))
    last.rename(last.with_name("last.previous.ckpt"))
    assert newest_loadable_checkpoint(run) == last.with_name("last.previous.ckpt")
    # A completed save: the new folder in place, the previous one gone.
    make_sharded(staging_path(last), step=6)
    last.with_name("last.previous.ckpt").rename(last)
    replace_folder(staging_path(last), last)
    assert safe_torch_load(last / "meta.pt")["global_step"] == 6
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]


class RunsCommand:
    """Unpickling this runs ``touch <marker>``: the proof that a file's pickle executed code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# Session scope: the worker may run other files' tests between this file's.
@pytest.fixture(scope="session")
def sharded_run(tmp_path_factory) -> Path:
    """A folder holding outputs/runs/<run> of a real 3-step run with a sharded last.ckpt."""
    root = tmp_path_factory.mktemp("sharded")
    result = run_script("train.py", *SHARDED_RUN, "trainer.max_steps=3", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def copy_run(sharded_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the run under ``tmp_path``: (its run folder, its sharded last.ckpt)."""
    shutil.copytree(sharded_run / "outputs", tmp_path / "outputs")
    [last] = (tmp_path / "outputs" / "runs").glob("*/*/checkpoints/last.ckpt")
    return last.parent.parent, last


def quoted(path: Path) -> str:
    """A path as a Hydra override value: run folder names hold '=' and ','."""
    return f"'{path}'"


def plant(folder: Path, marker: Path) -> None:
    """Replace the metadata of a sharded checkpoint with a pickle that runs a command."""
    (folder / ".metadata").write_bytes(pickle.dumps(RunsCommand(marker)))


def assert_refused(result, marker: Path, refused: str) -> None:
    """Exit status 1, one ``error:`` line naming ``refused``, and the planted command never ran."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, result.stderr[-3000:]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert refused in errors[0] and "refused" in errors[0], errors[0]
    assert not marker.exists()


def test_a_planted_metadata_pickle_is_refused_by_consolidate(tmp_path):
    marker, folder = tmp_path / "MARKER", tmp_path / "last.ckpt"
    folder.mkdir()
    torch.save({"global_step": 0}, folder / "meta.pt")
    plant(folder, marker)
    result = run_script("consolidate_checkpoint.py", str(folder), str(tmp_path / "out.ckpt"), cwd=tmp_path)
    assert_refused(result, marker, str(folder / ".metadata"))
    assert not (tmp_path / "out.ckpt").exists()


FSDP2_SHARDED = ["trainer=fsdp2", "trainer.strategy.checkpoint=sharded"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        "resume=<run>",
        "resume=<last>",
        "resume=auto",
        "ckpt_path=<last>",
        "resume=<run> without fsdp2",
        "generate ckpt=<run>",
    ],
)
def test_a_planted_metadata_pickle_is_refused_by_every_command_that_reads_the_folder(
    sharded_run, tmp_path, how
):
    run, last = copy_run(sharded_run, tmp_path)
    marker = tmp_path / "MARKER"
    plant(last, marker)
    if how == "generate ckpt=<run>":
        result = run_script("generate.py", f"ckpt={quoted(run)}", "prompt=Every", cwd=tmp_path)
    else:
        overrides = [*SHARDED_RUN, "trainer.max_steps=6"]
        if how.endswith("without fsdp2"):
            overrides = [o for o in overrides if o not in FSDP2_SHARDED]
        where = {"<run>": quoted(run), "<last>": quoted(last)}
        key, value = how.split()[0].split("=")
        result = run_script("train.py", *overrides, f"{key}={where.get(value, value)}", cwd=tmp_path)
    assert_refused(result, marker, str((last / ".metadata").relative_to(tmp_path)))


@pytest.mark.slow
def test_a_planted_pickle_among_the_non_tensor_values_is_refused(sharded_run, tmp_path):
    """The optimizer's settings (lr, betas, ...) are pickles inside the .distcp file, which DCP
    unpickles with torch.load(weights_only=False). Here the learning rate's entry of a real
    checkpoint is pointed at a payload appended to that file; the metadata stays harmless."""
    run, last = copy_run(sharded_run, tmp_path)
    marker = tmp_path / "MARKER"
    with open(last / ".metadata", "rb") as f:
        metadata = pickle.load(f)  # our own checkpoint: trusted
    [index] = [i for i in metadata.storage_data if i.fqn == "optimizer_0.param_groups.0.lr"]
    payload = io.BytesIO()
    torch.save(RunsCommand(marker), payload)
    shard = last / metadata.storage_data[index].relative_path
    offset = shard.stat().st_size
    with open(shard, "ab") as f:
        f.write(payload.getvalue())
    metadata.storage_data[index] = dataclasses.replace(
        metadata.storage_data[index], offset=offset, length=len(payload.getvalue())
    )
    (last / ".metadata").write_bytes(pickle.dumps(metadata))
    result = run_script(
        "train.py", *SHARDED_RUN, "trainer.max_steps=6", f"resume={quoted(run)}", cwd=tmp_path
    )
    assert_refused(result, marker, str(shard.relative_to(tmp_path)))


@pytest.mark.slow
@pytest.mark.parametrize("resume", ["auto", "<last>"])
def test_a_real_sharded_checkpoint_passes_the_check_resumes_and_is_gathered(sharded_run, tmp_path, resume):
    run, last = copy_run(sharded_run, tmp_path)
    resume = quoted(last) if resume == "<last>" else resume
    resumed = run_script("train.py", *SHARDED_RUN, "trainer.max_steps=6", f"resume={resume}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stdout
    gathered = run_script("consolidate_checkpoint.py", str(last), str(tmp_path / "model.ckpt"), cwd=tmp_path)
    assert gathered.returncode == 0, gathered.stderr[-3000:]
    assert "Wrote" in gathered.stdout and gathered.stderr == ""
    checkpoint = safe_torch_load(tmp_path / "model.ckpt")
    assert checkpoint["global_step"] == 6 and "optimizer_states" not in checkpoint
    assert checkpoint["state_dict"]["model.wte.weight"].shape[1] == 24  # model=tiny's emb_dim


def edit_metadata(folder: Path, edit) -> None:
    """Rewrite the (trusted, test-made) DCP metadata of ``folder`` through ``edit``."""
    metadata = pickle.loads((folder / ".metadata").read_bytes())
    edit(metadata.state_dict_metadata)
    (folder / ".metadata").write_bytes(pickle.dumps(metadata))


def absurd_positions(entries: dict) -> None:
    name = "state_dict.model.wpe.weight"
    entries[name] = dataclasses.replace(entries[name], size=torch.Size([10**12, entries[name].size[1]]))


# What consolidate used to do with each: write a checkpoint of 0 tensors and exit 0; write one
# lacking wpe.weight and exit 0; try to allocate 10**12 positions.
TAMPERED = {
    "no model settings": (None, "is not a gpt-experiments checkpoint (no 'hyper_parameters' entry)"),
    "a tensor left out": (lambda e: e.pop("state_dict.model.wpe.weight"), "lacks tensor wpe.weight"),
    "absurd size": (absurd_positions, "has tensor wpe.weight of shape (1000000000000, "),
}


@pytest.mark.parametrize("edit, message", TAMPERED.values(), ids=TAMPERED)
def test_consolidate_refuses_a_folder_whose_tensors_are_not_its_models(sharded_run, tmp_path, edit, message):
    if edit is None:
        folder = tmp_path / "last.ckpt"
        make_sharded(folder, step=3)
    else:
        _, folder = copy_run(sharded_run, tmp_path)
        edit_metadata(folder, edit)
    with pytest.raises(CheckpointError) as refused:
        consolidate(folder, tmp_path / "out.ckpt")
    assert str(refused.value).startswith(f"{folder} ") and message in str(refused.value)
    assert not (tmp_path / "out.ckpt").exists()


def test_consolidate_writes_nothing_inside_the_sharded_folder(sharded_run, tmp_path):
    _, folder = copy_run(sharded_run, tmp_path)
    before = sorted(path.name for path in folder.iterdir())
    with pytest.raises(CheckpointError, match="is inside the sharded checkpoint"):
        consolidate(folder, folder / "model.ckpt")
    assert sorted(path.name for path in folder.iterdir()) == before
    assert consolidate(folder, tmp_path / "model.ckpt")["global_step"] == 3
