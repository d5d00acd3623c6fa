"""A run killed with SIGKILL leaves no FAILED marker: compare_runs must still not count it as
finished, and says whether it is still running or was killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from gpt_experiments.run_folder.provenance import PROVENANCE_FILE
from gpt_experiments.runs.compare import compare_runs
from gpt_experiments.training import run_lock
from tests.helpers import ROOT, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, PAUSE_AT_STEP, PAUSED_MARKER
from tests.runs.test_sweeps import fake_run
from tests.training.test_resume import RESUMABLE_RUN, wait_for


def run_with_outcome(root, name: str, *outcomes: str):
    """A fake run whose start and resumes ended with ``outcomes`` (the last may be "running")."""
    run_dir = fake_run(root, name, ["model=tiny"], [4.0, 3.5])
    first, *resumes = [{"outcome": outcome} for outcome in outcomes]
    (run_dir / PROVENANCE_FILE).write_text(json.dumps({**first, "resumes": resumes}))
    return run_dir


def statuses(root) -> dict[str, str | None]:
    return {record.name: record.error for record in compare_runs(root)[0]}


def test_a_run_whose_last_leg_never_ended_is_not_finished(tmp_path):
    run_with_outcome(tmp_path, "finished", "finished")
    run_with_outcome(tmp_path, "resumed", "interrupted", "finished")
    run_with_outcome(tmp_path, "killed", "finished", "running")

    errors = statuses(tmp_path)

    assert errors["finished"] is None and errors["resumed"] is None
    assert errors["killed"].startswith("killed before it ended (provenance.json records no end)")


def test_a_run_that_a_live_process_holds_is_still_running(tmp_path):
    run_dir = run_with_outcome(tmp_path, "live", "running")
    run_lock.lock_run_dir(run_dir)
    try:
        assert statuses(tmp_path)["live"].startswith("still running")
    finally:
        run_lock.release_run_dir(run_dir)
    assert statuses(tmp_path)["live"].startswith("killed")


@pytest.mark.slow
def test_compare_lists_a_run_killed_after_a_validation_as_failed(tmp_path):
    env = script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "losses.jsonl"), PAUSE_AT_STEP: "12"})
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *RESUMABLE_RUN],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(tmp_path / f"losses.jsonl{PAUSED_MARKER}", process)  # epoch 0 validated at step 8
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    [history] = (tmp_path / "outputs" / "runs").glob("*/*/history.csv")
    assert history.read_text().count("\n") == 2  # header and the first validation

    result = run_script("compare_runs.py", "outputs/runs", cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Runs under outputs/runs: 1 (1 failed)" in result.stdout
    assert "killed before it ended" in result.stdout
