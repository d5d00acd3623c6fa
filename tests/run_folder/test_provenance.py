"""provenance.json: the code's git state against git itself, the versions against the imported
libraries, a dirty tree's diff, an install that is no checkout, resumes and how a run ended."""

from __future__ import annotations

import importlib.metadata
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt_experiments.run_folder import provenance
from gpt_experiments.run_folder.provenance import (
    CODE_DIFF_FILE,
    PACKAGE_ROOT,
    command_as_typed,
    legs,
    read_provenance,
    record_end,
    record_start,
)
from tests.helpers import ROOT

# The provenance start must stay a small part of a run's start (docs/trackers.md).
START_COST_LIMIT_S = 0.2


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository with one commit on the branch ``main``."""
    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "model.py").write_text("layers = 12\n")
    git(repo, "add", "model.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first")
    return repo


def test_a_clean_checkout_records_its_commit_and_branch_and_no_diff(repo, tmp_path):
    record = record_start(tmp_path / "run", code_dir=repo)
    assert record["code"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert record["code"]["branch"] == "main"
    assert record["code"]["dirty"] is False
    assert not (tmp_path / "run" / CODE_DIFF_FILE).exists()
    assert read_provenance(tmp_path / "run") == record  # what was returned is what was written


def test_a_dirty_tree_saves_its_diff_and_lists_untracked_files(repo, tmp_path):
    (repo / "model.py").write_text("layers = 24\n")
    (repo / "notes.txt").write_text("not added\n")
    record = record_start(tmp_path / "run", code_dir=repo)
    assert record["code"]["dirty"] is True
    assert record["code"]["changed_files"] == 2
    diff = (tmp_path / "run" / record["code"]["diff_file"]).read_text()
    assert "# untracked: notes.txt" in diff
    assert "-layers = 12\n+layers = 24" in diff


def test_an_untracked_file_alone_makes_the_tree_dirty(repo, tmp_path):
    (repo / "scratch.py").write_text("x = 1\n")
    record = record_start(tmp_path / "run", code_dir=repo)
    assert record["code"]["dirty"] is True
    assert (tmp_path / "run" / CODE_DIFF_FILE).read_text() == "# untracked: scratch.py\n"


def test_a_large_diff_is_cut_and_says_so(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "DIFF_LIMIT_BYTES", 100)
    (repo / "model.py").write_text("layers = 24\n" * 50)
    record_start(tmp_path / "run", code_dir=repo)
    diff = (tmp_path / "run" / CODE_DIFF_FILE).read_text()
    assert diff.startswith("diff --git")
    assert diff.rstrip().endswith("bytes") and "# cut at 100 of" in diff
    assert len(diff) < 200


def test_this_checkout_records_the_commit_git_reports_and_the_imported_torch(tmp_path):
    record = record_start(tmp_path / "run")  # the package's own location: this checkout
    assert PACKAGE_ROOT == ROOT
    assert record["code"]["commit"] == git(ROOT, "rev-parse", "HEAD").strip()
    assert record["code"]["dirty"] == bool(git(ROOT, "status", "--porcelain", "--untracked-files=all"))
    assert record["versions"]["torch"] == torch.__version__
    assert record["command"]  # the interpreter and its arguments, as started


def test_an_install_that_is_no_checkout_records_the_package_version(tmp_path):
    installed = tmp_path / "site-packages"  # a wheel's files: no .git beside the package
    installed.mkdir()
    record = record_start(tmp_path / "run", code_dir=installed)
    assert record["code"] == {
        "git": "not a git checkout",
        "package_version": importlib.metadata.version("gpt-experiments"),
    }


def test_a_resume_adds_an_entry_and_each_leg_records_how_it_ended(repo, tmp_path):
    run = tmp_path / "run"
    record_start(run, code_dir=repo)
    record_end(run, "interrupted")
    (repo / "model.py").write_text("layers = 24\n")  # changed between the legs
    record_start(run, code_dir=repo)
    record_end(run, "finished")
    first, resume = legs(read_provenance(run))
    assert (first["outcome"], resume["outcome"]) == ("interrupted", "finished")
    assert first["code"]["dirty"] is False and resume["code"]["dirty"] is True
    assert resume["code"]["diff_file"] == "code.resume1.diff"
    assert first["started_utc"] <= first["ended_utc"] <= resume["started_utc"] <= resume["ended_utc"]
    assert json.loads((run / "provenance.json").read_text())["resumes"] == [resume]


def test_the_command_is_pythons_own_when_it_ran_this_command(monkeypatch):
    typed = ["python3", "-X", "dev", "-m", "gpt_experiments.cli.train", "model=tiny"]
    monkeypatch.setattr(sys, "orig_argv", typed)
    assert command_as_typed(["/site-packages/gpt_experiments/cli/train.py", "model=tiny"]) == typed
    # Run from inside another Python process (a forked worker): this interpreter and the arguments.
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-c", "from multiprocessing.forkserver import main"])
    assert command_as_typed(["scripts/train.py", "model=tiny"]) == [
        sys.executable,
        "scripts/train.py",
        "model=tiny",
    ]


def test_a_record_that_cannot_be_read_counts_as_none(tmp_path):
    (tmp_path / "provenance.json").write_text("{not json")
    assert read_provenance(tmp_path) is None
    assert read_provenance(tmp_path / "older_run") is None


def test_starting_the_record_costs_under_a_fifth_of_a_second(tmp_path):
    """This checkout (dirty or not, as it is): median of 5 starts, each a fresh run folder."""
    timings = []
    for index in range(5):
        started = time.perf_counter()
        record_start(tmp_path / f"run{index}")
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < START_COST_LIMIT_S, timings


def test_a_failed_write_leaves_the_earlier_record_whole_and_no_temporary_file(repo, tmp_path, monkeypatch):
    run = tmp_path / "run"
    record_start(run, code_dir=repo)
    before = (run / "provenance.json").read_bytes()

    def full_disk(path: Path, text: str) -> None:
        with open(path, "w") as f:
            f.write(text[:10])  # a few bytes, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError):
        record_end(run, "finished")
    monkeypatch.undo()
    assert (run / "provenance.json").read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == ["provenance.json"]


def test_a_checkout_git_cannot_read_is_recorded_so_and_the_run_goes_on(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no_git_here"))
    record = record_start(tmp_path / "run", code_dir=repo)
    assert record["code"]["git"].startswith("unreadable: ")
    assert record["code"]["package_version"] == importlib.metadata.version("gpt-experiments")
