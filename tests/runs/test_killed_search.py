"""An Optuna search killed with SIGKILL mid-trial: a second command on the study is refused while
it runs, the same command afterwards continues the study, and compare_runs lists the killed
trial as failed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from optuna.trial import TrialState

from gpt_experiments.runs.compare import compare_runs
from tests.helpers import ROOT, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, PAUSE_AT_STEP, PAUSED_MARKER
from tests.runs.test_search import LEAN_TRIAL, load_study, write_search
from tests.training.test_resume import wait_for

KILLED_SEARCH = """\
# @package _global_
defaults:
  - verdict_optuna
hydra:
  sweeper:
    study_name: killed
    n_trials: 2
    params:
      optimizer.lr: choice(0.001)
      model.drop_rate: choice(0.0)
"""
COMMAND = [
    "-m",
    "--config-dir",
    "conf",
    "hparams_search=killed",
    *LEAN_TRIAL,
    "+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder",
]


@pytest.mark.slow
def test_a_killed_search_refuses_a_second_command_meanwhile_and_is_continued_after(tmp_path):
    write_search(tmp_path, "killed", KILLED_SEARCH)
    losses = tmp_path / "losses.jsonl"
    # Trial 0 pauses before step 3: after its first validation (2 steps an epoch).
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *COMMAND],
        cwd=tmp_path,
        env=script_env(tmp_path, **{LOSSES_FILE: str(losses), PAUSE_AT_STEP: "3"}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = script_env(tmp_path, **{LOSSES_FILE: str(losses)})
    sweep = tmp_path / "outputs" / "search" / "killed"
    try:
        wait_for(tmp_path / f"losses.jsonl{PAUSED_MARKER}", first)
        meanwhile = run_script("train.py", *COMMAND, cwd=tmp_path, env=env)
        assert meanwhile.returncode == 1, meanwhile.stderr[-3000:]
        assert (
            meanwhile.stderr.strip()
            .splitlines()[-1]
            .startswith(f"error: {sweep.resolve()} is in use by process {first.pid}")
        )
        trials = load_study(sweep / "optuna.journal", "killed").trials
        assert [t.state for t in trials] == [TrialState.RUNNING]  # not taken for a killed one
    finally:
        first.kill()
        first.wait()

    again = run_script("train.py", *COMMAND, cwd=tmp_path, env=env)

    assert again.returncode == 0, again.stderr[-3000:]
    assert "Continuing study 'killed' (1 trials so far)" in again.stdout
    states = [t.state for t in load_study(sweep / "optuna.journal", "killed").trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    records = {record.name.split("_")[0]: record for record in compare_runs(sweep)[0]}
    assert records["0"].error.startswith("killed before it ended")
    assert not records["1"].failed and not records["2"].failed
