"""compare_runs and provenance.json: a commit column, one warning when the compared runs' code
or torch differ, and runs made before the record existed still compared ("unknown")."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gpt_experiments.cli.compare import main as compare_main
from gpt_experiments.run_folder.provenance import PROVENANCE_FILE
from gpt_experiments.runs.compare import compare_runs, format_table, provenance_warning
from tests.runs.test_sweeps import fake_run

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def with_provenance(
    run_dir: Path, commit: str, dirty: bool = False, torch: str = "2.5.1", resumes=()
) -> Path:
    leg = {"code": {"commit": commit, "dirty": dirty}, "versions": {"torch": torch}}
    (run_dir / PROVENANCE_FILE).write_text(json.dumps({**leg, "resumes": list(resumes)}))
    return run_dir


def run(root: Path, number: int, **code) -> Path:
    run_dir = fake_run(
        root, f"{number}_lr=0.{number}", ["model=tiny", f"optimizer.lr=0.{number}"], [4.0 + number]
    )
    return with_provenance(run_dir, **code) if code else run_dir


def test_runs_of_one_clean_commit_show_it_and_warn_of_nothing(tmp_path, capsys):
    run(tmp_path, 1, commit=COMMIT_A)
    run(tmp_path, 2, commit=COMMIT_A)
    records, comparison = compare_runs(tmp_path)
    assert [r.commit for r in records] == ["aaaaaaaaaa", "aaaaaaaaaa"]
    assert provenance_warning(records) is None
    assert "commit" in format_table(comparison).splitlines()[0]
    compare_main([str(tmp_path)])
    assert "warning" not in capsys.readouterr().err
    with open(tmp_path / "comparison.csv") as f:
        assert [(row["commit"], row["torch"]) for row in csv.DictReader(f)] == [("aaaaaaaaaa", "2.5.1")] * 2


def test_different_commits_a_dirty_tree_and_torch_versions_give_one_warning_line(tmp_path, capsys):
    run(tmp_path, 1, commit=COMMIT_A)
    run(tmp_path, 2, commit=COMMIT_B, dirty=True, torch="2.6.0")
    run(tmp_path, 3)  # made before provenance.json existed
    compare_main([str(tmp_path)])
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the runs' code differs: 2 different commits; uncommitted changes in 1 run (code.diff "
        "in each); torch 2.5.1, 2.6.0. Results may differ by code, not settings alone"
    ]
    rows = {line.split()[-1]: line.split()[-2] for line in out.splitlines() if "optimizer.lr=" in line}
    assert rows == {
        "optimizer.lr=0.1": "aaaaaaaaaa",
        "optimizer.lr=0.2": "bbbbbbbbbb*",
        "optimizer.lr=0.3": "unknown",
    }
    assert "*: the run's code had uncommitted changes" in out


def test_each_difference_alone_is_warned_of(tmp_path):
    dirty_only = tmp_path / "dirty"
    run(dirty_only, 1, commit=COMMIT_A)
    run(dirty_only, 2, commit=COMMIT_A, dirty=True)
    assert "uncommitted changes in 1 run" in provenance_warning(compare_runs(dirty_only)[0])
    torch_only = tmp_path / "torch"
    run(torch_only, 1, commit=COMMIT_A, torch="2.4.0")
    run(torch_only, 2, commit=COMMIT_A, torch="2.5.1")
    assert provenance_warning(compare_runs(torch_only)[0]).endswith(
        "torch 2.4.0, 2.5.1. Results may differ by code, not settings alone"
    )


def test_a_run_resumed_on_another_commit_shows_both(tmp_path):
    resumed = {"code": {"commit": COMMIT_B, "dirty": False}, "versions": {"torch": "2.5.1"}}
    run(tmp_path, 1, commit=COMMIT_A, resumes=[resumed])
    [record], _ = compare_runs(tmp_path)
    assert record.commit == "aaaaaaaaaa+bbbbbbbbbb"
    assert "2 different commits" in provenance_warning([record])


def test_runs_without_a_record_are_unknown_and_not_warned_of(tmp_path):
    run(tmp_path, 1)
    run(tmp_path, 2)
    records, _ = compare_runs(tmp_path)
    assert [r.commit for r in records] == ["unknown", "unknown"]
    assert provenance_warning(records) is None
