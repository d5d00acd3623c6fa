"""Seed repeats in compare_runs: settings grouped over seeds, mean +- std, Welch's t-test against the best."""

from __future__ import annotations

import csv
import math

import pytest
from scipy import stats

from gpt_experiments.runs.compare import compare_runs
from gpt_experiments.runs.repeats import format_repeats_table, group_by_setting, welch_t_test
from gpt_experiments.runs.status import mark_pruned
from tests.helpers import run_script
from tests.runs.test_sweeps import fake_run


@pytest.mark.parametrize(
    "a, b",
    [
        ([4.01, 4.03, 3.98], [4.20, 4.31, 4.12]),  # clearly apart
        ([4.01, 4.03, 3.98], [4.02, 3.99, 4.05, 4.00]),  # unequal sizes, close means
        ([1.0, 2.0], [1.5, 9.0, 3.0, 0.2, 7.7]),  # very unequal spreads
    ],
)
def test_welch_p_value_equals_scipy(a, b):
    assert welch_t_test(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-10)


def test_welch_without_spread_has_no_p_value_and_needs_two_values_a_side():
    assert math.isnan(welch_t_test([4.0, 4.0], [5.0, 5.0]))
    with pytest.raises(ValueError, match="two values"):
        welch_t_test([4.0], [5.0, 5.1])


# Best val loss of each seed for three learning rates; lr=9e-3 was run once.
SEEDS = {"optimizer.lr=0.003": [4.01, 4.03, 3.98], "optimizer.lr=0.001": [4.20, 4.25, 4.22]}


def fake_repeats(root):
    n = 0
    for setting, losses in SEEDS.items():
        for seed, loss in enumerate(losses, start=1):
            fake_run(root, f"{n}_seed={seed}", ["model=tiny", setting, f"seed={seed}"], [loss + 1, loss])
            n += 1
    fake_run(root, f"{n}_lr=9e-3", ["model=tiny", "optimizer.lr=9e-3", "seed=1"], [4.50])
    mark_pruned(
        fake_run(root, f"{n + 1}_lr=1", ["model=tiny", "optimizer.lr=1", "seed=1"], [9.0]), "at step 2"
    )


def test_runs_differing_only_by_seed_are_grouped_with_mean_std_and_p_value(tmp_path):
    fake_repeats(tmp_path)
    records, common = compare_runs(tmp_path)
    best, worse, single, pruned = group_by_setting(records)

    assert best.setting == ("model=tiny", "optimizer.lr=0.003") and best.n == 3
    assert best.mean == pytest.approx(sum(SEEDS["optimizer.lr=0.003"]) / 3)
    assert best.std == pytest.approx(stats.tstd(SEEDS["optimizer.lr=0.003"]))
    expected_p = stats.ttest_ind(
        SEEDS["optimizer.lr=0.001"], SEEDS["optimizer.lr=0.003"], equal_var=False
    ).pvalue
    assert worse.p_value == pytest.approx(expected_p, rel=1e-10) and worse.significant
    # One run: a mean but no spread and no test; a pruned run does not count as a result.
    assert (single.n, math.isnan(single.std), single.p_value) == (1, True, None)
    assert (pruned.n, pruned.p_value) == (0, None)

    table = format_repeats_table([best, worse, single, pruned], common)
    assert f"{expected_p:.3g} *  optimizer.lr=0.001" in table
    assert "n<2  optimizer.lr=9e-3" in table and "best  optimizer.lr=0.003" in table

    with open(tmp_path / "comparison.csv") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert rows["3_seed=1"]["setting"] == "optimizer.lr=0.001"
    assert float(rows["3_seed=1"]["p_value_vs_best"]) == pytest.approx(expected_p, rel=1e-10)
    assert rows["3_seed=1"]["significant"] == "True" and rows["0_seed=1"]["p_value_vs_best"] == ""
    assert float(rows["0_seed=1"]["setting_std_best_val_loss"]) == pytest.approx(best.std)
    assert rows["6_lr=9e-3"]["setting_n"] == "1" and rows["6_lr=9e-3"]["setting_std_best_val_loss"] == ""
    assert rows["7_lr=1"]["status"] == "pruned"


def test_compare_cli_prints_the_repeats_table_and_pruned_runs(tmp_path):
    fake_repeats(tmp_path)
    result = run_script("compare_runs.py", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(0 failed, 1 pruned)" in result.stdout
    assert "PRUNED: at step 2" in result.stdout
    assert "Settings run more than once" in result.stdout and "no result  optimizer.lr=1" in result.stdout


def test_without_repeats_no_p_values_are_claimed(tmp_path):
    fake_run(tmp_path, "0", ["optimizer.lr=0.1", "seed=1"], [4.0])
    fake_run(tmp_path, "1", ["optimizer.lr=0.2", "seed=1"], [4.5])
    records, _ = compare_runs(tmp_path)
    assert all(group.p_value is None for group in group_by_setting(records))
