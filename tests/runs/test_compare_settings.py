"""compare_runs: settings told apart by their resolved configs, the val loss at equal tokens,
one wall time with the run's summary, commands that work pasted anywhere, a readable plot."""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gpt_experiments.run_folder.history import HISTORY_FIELDS, val_loss_at_tokens
from gpt_experiments.runs.compare import compare_runs, comparison_figure, format_table, read_comparison
from tests.conftest import CONF_DIR
from tests.helpers import run_script
from tests.runs.test_sweeps import fake_run


def composed_run(root: Path, name: str, overrides: list[str], val_losses: list[float]) -> Path:
    """A run folder whose .hydra/config.yaml is what Hydra composes for ``overrides`` (unresolved)."""
    run_dir = fake_run(root, name, overrides, val_losses)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")  # keeps ${hydra:...} and the resolvers' text
    return run_dir


def history_run(root: Path, name: str, overrides: list[str], points: list[tuple[int, float]]) -> Path:
    """A run folder whose history.csv has these (tokens seen, val loss) validations."""
    run_dir = fake_run(root, name, overrides, [])
    with open(run_dir / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HISTORY_FIELDS)
        for step, (tokens, loss) in enumerate(points, start=1):
            writer.writerow([step, step, tokens, math.nan, loss, math.exp(loss)])
    return run_dir


# --- what a setting is --------------------------------------------------------------------


def test_order_spelling_and_neutral_keys_do_not_split_a_setting(tmp_path):
    composed_run(tmp_path, "a", ["model=tiny", "optimizer.lr=1e-3", "seed=1"], [4.0])
    composed_run(tmp_path, "b", ["seed=2", "optimizer.lr=1e-3", "model=tiny"], [4.1])
    composed_run(tmp_path, "c", ["model=tiny", "optimizer.lr=0.001", "seed=3"], [4.2])
    neutral = ["trainer.enable_progress_bar=false", "paths.log_dir=/x", "hparams_search=verdict_optuna"]
    composed_run(tmp_path, "d", ["model=tiny", "optimizer.lr=0.001", "seed=4", *neutral], [4.3])
    composed_run(tmp_path, "e", ["model=tiny", "optimizer.lr=3e-3", "seed=1"], [3.9])

    comparison = read_comparison(tmp_path)

    assert [len(s.runs) for s in comparison.settings] == [1, 4]
    # Labelled by the one key that differs, spelled one way whatever the command lines said.
    assert [s.label for s in comparison.settings] == ["optimizer.lr=0.003", "optimizer.lr=0.001"]
    assert not comparison.by_overrides
    assert {r.name: r.seed for r in comparison.records} == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 1}


def test_a_group_choice_differs_by_the_keys_it_changes(tmp_path):
    composed_run(tmp_path, "a", ["model=tiny", "seed=1"], [4.0])
    composed_run(tmp_path, "b", ["model=tiny", "model.n_layers=3", "seed=1"], [4.0])
    labels = [s.label for s in read_comparison(tmp_path).settings]
    assert sorted(labels) == ["model.n_layers=2", "model.n_layers=3"]


def test_runs_without_a_readable_config_fall_back_to_their_overrides_and_say_so(tmp_path):
    fake_run(tmp_path, "a", ["optimizer.lr=1e-3", "seed=1"], [4.0])
    fake_run(tmp_path, "b", ["seed=2", "optimizer.lr=0.001"], [4.1])
    (tmp_path / "b" / ".hydra" / "config.yaml").write_text("")  # an older layout: nothing saved
    comparison = read_comparison(tmp_path)
    assert comparison.by_overrides and [len(s.runs) for s in comparison.settings] == [2]
    result = run_script("compare_runs.py", str(tmp_path), cwd=tmp_path)
    assert "overrides agree but for the seed: some run has no readable .hydra/config.yaml" in result.stdout


# --- equal tokens -------------------------------------------------------------------------


def test_val_loss_at_tokens_interpolates_between_validations_only():
    history = [{"tokens_seen": t, "val_loss": v} for t, v in [(100, 6.0), (200, 5.0), (400, 4.0)]]
    assert val_loss_at_tokens(history, 150) == pytest.approx(5.5)
    assert val_loss_at_tokens(history, 300) == pytest.approx(4.5)
    assert val_loss_at_tokens(history, 400) == 4.0
    assert math.isnan(val_loss_at_tokens(history, 401))  # never extrapolated
    assert math.isnan(val_loss_at_tokens(history, 50))
    assert math.isnan(val_loss_at_tokens([{"tokens_seen": math.nan, "val_loss": 4.0}], 100))


def test_runs_are_compared_at_the_most_tokens_all_reached(tmp_path):
    history_run(tmp_path, "long", ["optimizer.lr=0.1", "seed=1"], [(100, 6.0), (200, 5.0), (400, 3.4)])
    history_run(tmp_path, "short", ["optimizer.lr=0.2", "seed=1"], [(100, 5.5), (300, 4.0)])
    history_run(tmp_path, "late", ["optimizer.lr=0.3", "seed=1"], [(350, 4.5), (500, 4.4)])
    _, comparison = compare_runs(tmp_path)
    assert comparison.tokens == 300  # "short" stopped there; "long" never gets to count its 3.4
    at = {r.name: r.val_loss_at_tokens for r in comparison.records}
    assert at["long"] == pytest.approx(4.2) and at["short"] == 4.0 and math.isnan(at["late"])
    assert comparison.notes == ["late: first validation after 300 tokens (no extrapolation)"]
    with open(tmp_path / "comparison.csv") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert float(rows["long"]["val_loss_at_tokens"]) == pytest.approx(4.2)
    assert rows["long"]["tokens_compared"] == "300" and rows["late"]["val_loss_at_tokens"] == ""
    table = comparison.tables["val_loss_at_tokens"]
    labels = [row.setting.label for row in table.rows]
    assert labels == ["optimizer.lr=0.2", "optimizer.lr=0.1", "optimizer.lr=0.3"]


# --- the plot -----------------------------------------------------------------------------


def test_long_setting_labels_keep_both_panels_wide_and_the_legend_inside(tmp_path):
    long_keys = ["model.drop_rate", "optimizer.weight_decay", "data.batch_size", "data.stride"]
    for number, lr in enumerate([1e-3, 2e-3, 3e-3]):
        values = [*(f"{key}={0.1 + number / 10}" for key in long_keys), f"optimizer.lr={lr}"]
        for seed in (1, 2):
            loss = 4.0 + number / 10 + seed / 100
            fake_run(tmp_path, f"{number}_{seed}", [*values, f"seed={seed}"], [loss + 1, loss])
    fig = comparison_figure(read_comparison(tmp_path))
    fig.savefig(tmp_path / "long.png", dpi=80)  # lays the figure out
    width = fig.get_window_extent().width
    for ax in fig.axes:
        assert ax.get_position().width > 0.3, ax.get_title()  # neither panel a sliver
    figure_box = fig.get_window_extent()
    for legend in fig.legends:
        box = legend.get_window_extent()
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x0 + width and box.y0 >= figure_box.y0


# --- a real run: one setting over reordered command lines, one wall time, pasteable commands ---

TINY_ONE_EPOCH = [
    "model=tiny",
    "model.context_length=32",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.precision=32-true",
    "trainer.enable_model_summary=false",
    "sampler.max_new_tokens=2",
    "callbacks.text_samples=null",
]


@pytest.mark.slow
def test_four_reordered_single_runs_are_one_setting_with_the_summarys_wall_time(tmp_path):
    command_lines = [
        ["optimizer.lr=1e-3", "seed=1"],
        ["seed=2", "optimizer.lr=1e-3"],
        ["optimizer.lr=0.001", "seed=3"],
        ["seed=4", "trainer.enable_progress_bar=false", "optimizer.lr=0.001"],
    ]
    printed = {}
    for overrides in command_lines:
        result = run_script("train.py", *TINY_ONE_EPOCH, *overrides, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        run_folder = re.search(r"Run folder:\s+(\S.*)", result.stdout).group(1)
        printed[Path(run_folder).name] = float(re.search(r"tokens in ([\d,.]+) s", result.stdout).group(1))
    summary = result.stdout[result.stdout.index("Run folder:") :]

    runs = tmp_path / "outputs" / "runs"
    result = run_script("compare_runs.py", str(runs), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Settings: 1 " in result.stdout
    assert re.search(r"\n\s+1\s+[\d.]+\s+[\d.]+\s+4\s+\[", result.stdout), result.stdout  # n = 4
    with open(runs / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert {row["setting_n_best_val_loss"] for row in rows} == {"4"}
    assert sorted(row["seed"] for row in rows) == ["1", "2", "3", "4"]
    # One wall time: what each run's summary printed is what compare_runs reports.
    for row in rows:
        assert row["wall_time_source"] == "fit"
        assert round(float(row["wall_time_s"]), 1) == printed[Path(row["run"]).name]

    # The summary's commands work pasted from another folder, outside an activated venv.
    commands = dict(re.findall(r"^(TensorBoard|Compare runs|Generate):\s+(.*)$", summary, re.MULTILINE))
    for line in commands.values():
        program = shlex.split(line)[0]
        assert os.path.isabs(program) and os.access(program, os.X_OK), line
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GPT_EXPERIMENTS_CACHE": str(tmp_path / "cache")}
    pasted = subprocess.run(
        ["bash", "-c", commands["Compare runs"]], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert pasted.returncode == 0, pasted.stderr[-3000:]
    assert "Wrote comparison.csv" in pasted.stdout


def test_the_comparison_shows_each_runs_training_flops_and_blank_for_older_runs(tmp_path):
    counted = history_run(tmp_path, "counted", ["optimizer.lr=0.1"], [(100, 5.0), (200, 4.0)])
    with open(counted / "history.csv", "a", newline="") as f:  # a third validation with its FLOPs
        csv.writer(f).writerow([3, 3, 300, math.nan, 3.5, math.exp(3.5), 1.5e12])
    history_run(tmp_path, "older", ["optimizer.lr=0.2"], [(100, 5.5)])  # before train_flops existed
    _, comparison = compare_runs(tmp_path)
    with open(tmp_path / "comparison.csv") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert float(rows["counted"]["train_flops"]) == 1.5e12 and rows["older"]["train_flops"] == ""
    assert "train FLOPs" in format_table(comparison) and "1.5e+12" in format_table(comparison)
