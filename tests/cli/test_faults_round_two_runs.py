"""Faults round two, runs and studies (issue 28, part B): each class a one-line answer, and the
folders as they were. Named after the issue's list: compare_runs on a damaged run, a garbled
journal, resume=auto beside a damaged run, run folder paths as values, temporaries of killed
saves, late refusals, a finished run resumed, a sweep with a failed job, max_epochs=-1,
Lightning's lines in sweeps, model=tiny's context (tests/training/test_configs.py) and
stopping torchrun (tests/training/test_stop_signals.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch

from gpt_experiments.config import register_resolvers
from gpt_experiments.errors import UserError
from gpt_experiments.run_folder.history import SUMMARY_JSON
from gpt_experiments.search.storage import open_storage, repair_journal
from gpt_experiments.training.callbacks.fit_clock import FitClock
from gpt_experiments.training.launch import prepare_run
from tests.cli.test_bad_inputs import CONF_DIR, snapshot
from tests.helpers import TINY_RUN, run_script
from tests.runs.test_search import error_lines
from tests.runs.test_sweeps import fake_run

# One epoch of two steps, one validation batch: a finished run in a few seconds.
SHORT_RUN = [
    *TINY_RUN,
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
]


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The command failed with exactly one ``error:`` line and no traceback; that line."""
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = error_lines(result.stderr)
    return line


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> Path:
    """A workspace holding one finished SHORT_RUN, in a folder named as the train command names it."""
    workspace = tmp_path_factory.mktemp("finished")
    result = run_script("train.py", *SHORT_RUN, cwd=workspace, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace


@pytest.fixture
def workspace(finished: Path, tmp_path: Path) -> Path:
    """A copy of ``finished`` to change."""
    shutil.copytree(finished, tmp_path / "w")
    return tmp_path / "w"


def run_dir_of(workspace: Path) -> Path:
    [run] = [p.parent for p in (workspace / "outputs" / "runs").glob("*/*/.hydra")]
    return run


def prepare(workspace: Path, monkeypatch, *overrides: str) -> list[str] | None:
    """``scripts/train.py``'s checks and resume= planning, in-process."""
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("GPT_EXPERIMENTS_CACHE", str(workspace / "cache"))
    register_resolvers()
    return prepare_run(CONF_DIR, "train", [*SHORT_RUN, *overrides])


# --- compare_runs on a run whose files are damaged -----------------------------------------

DAMAGED_RUN_FILES = {
    "history without val_loss": ("history.csv", b"step,epoch\n1,0\n", "has no val_loss, val_ppl column"),
    "history not UTF-8": ("history.csv", b"step,\xff\n", "can't decode byte 0xff"),
    "overrides not YAML": (".hydra/overrides.yaml", b"- [a\n", "line 2"),
    "overrides not a list": (".hydra/overrides.yaml", b"a: 1\n", "not a YAML list"),
}


@pytest.mark.parametrize(
    ("file", "damage", "named"), DAMAGED_RUN_FILES.values(), ids=DAMAGED_RUN_FILES.keys()
)
def test_compare_runs_lists_a_damaged_run_as_unreadable_and_compares_the_rest(tmp_path, file, damage, named):
    fake_run(tmp_path, "0_lr-0.1", ["model=tiny", "optimizer.lr=0.1"], [5.0, 4.0])
    fake_run(tmp_path, "1_lr-0.2", ["model=tiny", "optimizer.lr=0.2"], [4.5, 4.2])
    (tmp_path / "1_lr-0.2" / file).write_bytes(damage)

    result = run_script("compare_runs.py", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "1_lr-0.2 is unreadable (" in warning and named in warning
    assert "listed as failed, the other runs compared" in warning
    table = result.stdout.splitlines()
    assert any(line.split()[:2] == ["1", "4.0000"] for line in table)  # the readable run, ranked
    assert any("FAILED" in line and "unreadable:" in line for line in table)


# --- optuna.journal with a damaged line in the middle -------------------------------------

GARBLED_LINES = {
    "not JSON": (b'{"op_code": 5, "wor', "line 3 is not a journal record"),
    "JSON, not a record": (b"[1, 2]", "line 3 is not a journal record"),
    "a record without its fields": (b'{"op_code": 5, "worker_id": "x"}', "a record Optuna cannot replay"),
    "an unknown operation": (b'{"op_code": 99, "worker_id": "x"}', "a record Optuna cannot replay"),
}


@pytest.mark.parametrize(("line", "named"), GARBLED_LINES.values(), ids=GARBLED_LINES.keys())
def test_a_garbled_journal_line_is_one_error_naming_the_file_and_changes_nothing(tmp_path, line, named):
    journal = tmp_path / "optuna.journal"
    study = optuna.create_study(study_name="s", storage=open_storage(str(journal)))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    records = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([*records[:2], line, *records[2:]]))
    damaged = journal.read_bytes()

    with pytest.raises(UserError) as refused:
        repair_journal(journal)  # what the sweeper does first, then open the storage
        open_storage(str(journal))
    message = str(refused.value)
    assert message.startswith(f"{journal}: ") and named in message and "\n" not in message
    assert "hydra.sweeper.study_name=<new name>" in message
    assert journal.read_bytes() == damaged


# --- resume=auto beside a run whose saved config is damaged --------------------------------

DAMAGED_SAVED = {
    "config not YAML": ("config.yaml", "a: [\n"),
    "overrides not YAML": ("overrides.yaml", "- [a\n"),
    "config not a mapping": ("config.yaml", "- 1\n"),
}


@pytest.mark.parametrize(("file", "text"), DAMAGED_SAVED.values(), ids=DAMAGED_SAVED.keys())
def test_resume_auto_skips_a_damaged_run_with_a_warning_and_resumes_the_other(
    workspace, monkeypatch, capsys, file, text
):
    broken = workspace / "outputs" / "runs" / "2000-01-01" / "broken"
    shutil.copytree(run_dir_of(workspace), broken)
    (broken / ".hydra" / file).write_text(text)
    run = run_dir_of_unbroken(workspace)
    before = snapshot(broken)

    overrides = prepare(workspace, monkeypatch, "trainer.max_epochs=2", "resume=auto")

    assert f"ckpt_path='{(run / 'checkpoints' / 'last.ckpt').resolve()}'" in overrides
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    named = broken.relative_to(workspace) / ".hydra" / file
    assert warning.startswith(f"warning: {named} is ") and "resume=auto skips that run" in warning
    assert snapshot(broken) == before


def run_dir_of_unbroken(workspace: Path) -> Path:
    return next(
        p.parent for p in (workspace / "outputs" / "runs").glob("*/*/.hydra") if p.parent.name != "broken"
    )


def test_resume_of_a_named_damaged_run_is_one_error(workspace, monkeypatch):
    run = run_dir_of(workspace)
    (run / ".hydra" / "overrides.yaml").write_text("- [a\n")
    before = snapshot(workspace)
    with pytest.raises(UserError, match=r"overrides.yaml is unreadable \(line 2: "):
        prepare(workspace, monkeypatch, "trainer.max_epochs=2", f"resume={run}")
    assert snapshot(workspace) == before


# --- a run folder's path as a value --------------------------------------------------------


def test_a_run_folder_path_works_unquoted_as_a_value(finished):
    run = run_dir_of(finished).relative_to(finished)
    assert "=" not in str(run) and "," not in str(run)  # e.g. ..._model-tiny+max_epochs-1+...
    result = run_script(
        "generate.py",
        f"ckpt={run}",
        "prompt=Every",
        "sampler=greedy",
        "sampler.max_new_tokens=2",
        cwd=finished,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_path_holding_equals_or_commas_gets_the_quoting_to_use(workspace):
    old_style = run_dir_of(workspace).parent / "12-00-00_000001_model=tiny,lr=0.003"
    run_dir_of(workspace).rename(old_style)
    value = old_style.relative_to(workspace)
    before = snapshot(workspace)
    for script, key in (("generate.py", "ckpt"), ("evaluate.py", "ckpt"), ("train.py", "resume")):
        line = one_line_error(run_script(script, f"{key}={value}", cwd=workspace))
        assert line.endswith(f"quote the value, e.g. \"{key}='{value}'\""), line
    quoted = run_script(
        "generate.py", f"ckpt='{value}'", "prompt=Every", "sampler.max_new_tokens=2", cwd=workspace
    )
    assert quoted.returncode == 0, quoted.stderr[-2000:]  # the advice works
    assert snapshot(workspace) == before


# --- temporaries left by killed saves -------------------------------------------------------


def dead_pid() -> int:
    """The id of a process that has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(ended.stdout)


def test_resume_removes_the_temporaries_of_killed_saves_and_keeps_a_live_writers(
    workspace, monkeypatch, capsys
):
    checkpoints = run_dir_of(workspace) / "checkpoints"
    dead, live = dead_pid(), os.getpid()
    stale = [checkpoints / f".last.ckpt.tmp{dead}", checkpoints / f".best-step000002-val9.000.ckpt.tmp{dead}"]
    stale.append(run_dir_of(workspace) / f".history.csv.tmp{dead}")
    for path in stale:
        path.write_bytes(b"\0" * 1000)
    in_progress = checkpoints / f".last.ckpt.tmp{live}"
    in_progress.write_bytes(b"\0" * 10)

    prepare(workspace, monkeypatch, "trainer.max_epochs=2", "resume=auto")

    assert not any(path.exists() for path in stale)
    assert in_progress.exists()  # a live process's file is never touched
    assert "Removed temporary files of killed saves" in capsys.readouterr().out


# --- late refusals: checked before Hydra makes a run folder --------------------------------


def test_a_refused_init_weights_file_leaves_no_run_folder(workspace):
    from gpt_experiments.convert.huggingface import write_huggingface
    from gpt_experiments.model import GPT, GPTConfig

    folder = workspace / "hf"
    write_huggingface(GPT(GPTConfig(context_length=32, emb_dim=24, n_heads=3, n_layers=2)), folder)
    cut = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(cut[: len(cut) // 2])
    before = snapshot(workspace)

    line = one_line_error(
        run_script("train.py", *SHORT_RUN, "init=huggingface", "init.path=hf", cwd=workspace)
    )

    assert "hf/model.safetensors is not a readable safetensors file" in line
    assert snapshot(workspace) == before  # no run folder: refused before Hydra made one


REFUSED_CHECKPOINTS = {
    "another optimizer": (["optimizer=muon"], "holds the state of optimizer torch.optim.AdamW, not of"),
    "another vocabulary": (
        ["tokenizer=char", "model.vocab_size=null"],
        "holds a different model (model.vocab_size",
    ),
}


@pytest.mark.parametrize(("overrides", "named"), REFUSED_CHECKPOINTS.values(), ids=REFUSED_CHECKPOINTS.keys())
def test_a_checkpoint_that_would_be_refused_mid_fit_is_refused_first(
    workspace, monkeypatch, overrides, named
):
    checkpoint = run_dir_of(workspace) / "checkpoints" / "last.ckpt"
    before = snapshot(workspace)
    with pytest.raises(UserError, match=re.escape(named)):
        prepare(workspace, monkeypatch, "trainer.max_epochs=2", f"ckpt_path='{checkpoint}'", *overrides)
    assert snapshot(workspace) == before


# --- resume=auto on a finished run; resumed legs -------------------------------------------


def test_resume_auto_on_a_finished_run_says_so_and_changes_nothing(workspace):
    before = snapshot(workspace)
    result = run_script("train.py", *SHORT_RUN, "resume=auto", cwd=workspace)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        f"{run_dir_of(workspace).relative_to(workspace)} already finished; nothing changed" in result.stdout
    )
    assert "Trained on" not in result.stdout  # no second summary
    assert snapshot(workspace) == before


@pytest.mark.slow
def test_a_resumed_run_keeps_its_name_and_its_wall_time_counts_every_leg(workspace):
    run = run_dir_of(workspace)
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    first_leg = last["callbacks"]["FitClock"]["wall_time_s"]
    (run / SUMMARY_JSON).unlink()  # as a leg killed after its checkpoint leaves it

    result = run_script("train.py", *SHORT_RUN, "trainer.max_epochs=2", "resume=auto", cwd=workspace)

    assert result.returncode == 0, result.stderr[-2000:]
    total = json.loads((run / SUMMARY_JSON).read_text())["wall_time_s"]
    assert total > first_leg > 0
    compared = run_script("compare_runs.py", str(run), cwd=workspace)
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert "ckpt_path" not in compared.stdout + (run / "comparison.csv").read_text()


def test_the_fit_clock_carries_the_earlier_legs_in_the_checkpoint():
    clock = FitClock(earlier_s=5.0)
    assert clock.elapsed_s() == 5.0  # before the fit starts: the earlier legs alone
    resumed = FitClock()
    resumed.load_state_dict(clock.state_dict())
    resumed.on_fit_start(None, None)
    assert 5.0 <= resumed.elapsed_s() < 6.0


# --- a sweep in which a job failed; Lightning's lines in a sweep ---------------------------


@pytest.fixture(scope="session")
def failed_sweep(tmp_path_factory) -> subprocess.CompletedProcess:
    """A two-job sweep whose second job has a head count its width does not divide."""
    workspace = tmp_path_factory.mktemp("sweep")
    return run_script("train.py", "-m", *SHORT_RUN, "model.n_heads=3,5", cwd=workspace, timeout=300)


@pytest.mark.slow
def test_a_sweep_with_a_failed_job_exits_1_after_all_jobs_ran(failed_sweep):
    line = one_line_error_last(failed_sweep)
    assert line.startswith("error: 1 of 2 jobs failed (each left its error in a FAILED file)")
    assert line.endswith("1_n_heads-5")
    assert "Sweep finished" in failed_sweep.stdout and "Runs under" in failed_sweep.stdout  # both jobs ran


def one_line_error_last(result: subprocess.CompletedProcess) -> str:
    """The sweep's own last words: exit 1, no traceback, its error line last."""
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    return error_lines(result.stderr)[-1]


@pytest.mark.slow
def test_a_sweep_prints_each_lightning_line_once(failed_sweep):
    printed = failed_sweep.stdout.splitlines() + failed_sweep.stderr.splitlines()
    # The one job that trained (the other is refused before its fit): each line once, not on
    # stdout and again on stderr as "INFO: ...".
    assert sum("Seed set to 123" in line for line in printed) == 1
    assert sum("GPU available:" in line for line in printed) == 1
    assert not any(line.startswith("INFO: ") for line in printed)


# --- trainer.max_epochs=-1 -------------------------------------------------------------------


def test_max_epochs_minus_one_trains_until_max_steps(tmp_path):
    result = run_script("train.py", *SHORT_RUN, "trainer.max_epochs=-1", "trainer.max_steps=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "`max_steps=3` reached" in result.stdout + result.stderr  # in the second epoch of two steps
    [last] = tmp_path.glob("outputs/runs/*/*/checkpoints/last.ckpt")
    assert torch.load(last, weights_only=True)["global_step"] == 3
