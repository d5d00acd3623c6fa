"""A ladder end to end through the commands: train.py -m trains a budget x sizes, scaling.py
reads the sweep folder; and what it refuses in run folders."""

import json
import shutil

import numpy as np
import pytest

from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.model_flops import non_embedding_parameters, training_flops_per_token
from gpt_experiments.runs.scaling.points import points_from_runs
from gpt_experiments.runs.scaling.synthetic import synthetic_ladder, write_points_csv
from gpt_experiments.training.config_checks import architecture_values
from tests.helpers import run_script, script_env

# One test worker runs this file's tests, so the tiny ladder is trained once.
pytestmark = pytest.mark.xdist_group("tiny_ladder")

# One budget x 3 sizes of character-level Shakespeare (888, 6,592 and 21,720 non-embedding
# parameters; 39, 8 and 3 steps): small enough for a test. Where a budget's minimum falls
# for such short runs is not a property of the code, so the fit's outcome is checked to be
# one of the refusals it owes these points; tests/runs/test_scaling_fit.py checks the fit.
TINY_LADDER = [
    "-m",
    "experiment=scaling_ladder",
    "model.context_length=16",
    "data.max_length=12",  # windows shorter than the context: attention's FLOPs follow them
    "data.stride=12",
    "data.batch_size=32",
    "scheduler.warmup_steps=2",
    "trainer.limit_val_batches=4",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "max_flops=2e8",
    "model.depth=1,2,3",
]


# Session scope: the worker may run other files' tests between this file's.
@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """The tiny ladder's sweep folder (trained once for the tests below)."""
    cwd = tmp_path_factory.mktemp("ladder")
    env = script_env(cwd, OMP_NUM_THREADS="1")  # models this small are slower on two threads
    result = run_script(
        "train.py", *TINY_LADDER, f"hydra.sweep.dir={cwd}/sweep", cwd=cwd, env=env, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return cwd / "sweep"


@pytest.mark.slow
def test_a_ladder_sweep_gives_one_point_per_run_with_its_size_and_compute(sweep, compose_train):
    points = sorted(points_from_runs([sweep]), key=lambda p: p.params)
    assert [p.budget for p in points] == [2e8] * 3
    for depth, point in zip((1, 2, 3), points, strict=True):
        model = GPT(GPTConfig(**ladder_model(compose_train, depth)))
        assert point.params == non_embedding_parameters(model)
        flops_per_token = training_flops_per_token(model, sequence_length=12)
        assert point.flops == point.tokens * flops_per_token
        assert 2e8 <= point.flops < 2e8 + 12 * 32 * flops_per_token  # within one step


def ladder_model(compose_train, depth: int) -> dict:
    cfg = compose_train(
        *[o for o in TINY_LADDER[1:-2] if not o.startswith("trainer.")], f"model.depth={depth}"
    )
    return {**architecture_values(cfg.model), "vocab_size": 66}  # 65 characters and end-of-text


@pytest.mark.slow
def test_the_scaling_command_reads_the_sweep_and_refuses_a_single_budget_in_one_line(sweep, tmp_path):
    result = run_script("scaling.py", str(sweep), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    one_budget = "error: 1 budget: power laws across budgets need at least 2"
    edge = "error: budget 2e+08 FLOPs has its loss minimum "
    assert line.startswith((one_budget, edge)), line
    assert not (sweep / "scaling.json").exists()


@pytest.mark.slow
def test_a_run_that_did_not_finish_is_refused_by_name(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    unfinished = sorted(p.parent for p in copy.glob("*/summary.json"))[0]
    (unfinished / "summary.json").unlink()
    result = run_script("scaling.py", str(copy), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: 1 run(s) did not finish, e.g. {unfinished}: no summary.json (still running, or crashed): "
        "wait for them, resume them (resume=<run folder>), or move their folders out"
    ]
    assert not (copy / "scaling.json").exists()


@pytest.mark.slow
def test_a_checked_run_folder_is_reported_with_its_measured_loss(sweep, tmp_path):
    """``--check RUN``: the run's own N, D, C and final loss go into the report beside the fit's
    predictions (the fit here is of synthetic points, so only the plumbing is checked)."""
    write_points_csv(synthetic_ladder(np.logspace(18, 20, 3), sizes_per_budget=5), tmp_path / "points.csv")
    run_dir = sorted(p.parent for p in sweep.glob("*/summary.json"))[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    result = run_script(
        "scaling.py", "--csv", "points.csv", "--check", str(run_dir), "--bootstrap", "20", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    [check] = json.loads((tmp_path / "scaling.json").read_text())["checks"]
    assert check["source"] == str(run_dir) and check["loss"] == summary["final_val_loss"]
    assert (check["params"], check["flops"]) == (summary["non_embedding_params"], summary["train_flops"])
    assert check["optimum"]["flops"] == summary["train_flops"] and check["law_loss"] > 0
    assert f"Checked {run_dir}: C = " in result.stdout
    assert "check" in (tmp_path / "scaling.csv").read_text()


def test_a_check_folder_that_does_not_exist_is_one_error_line(tmp_path):
    write_points_csv(synthetic_ladder(np.logspace(18, 20, 3), sizes_per_budget=5), tmp_path / "points.csv")
    result = run_script("scaling.py", "--csv", "points.csv", "--check", "nowhere", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: nowhere is not a folder: pass a sweep folder (outputs/multirun/<date>/<time>)"
    ]
    assert not (tmp_path / "scaling.json").exists()
