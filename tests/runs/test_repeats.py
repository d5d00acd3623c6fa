"""Seed repeats in compare_runs: settings grouped over seeds; mean, std, CI, Welch, Hedges' g and
Holm against scipy and hand-worked values."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats

from gpt_experiments.run_folder.status import mark_pruned
from gpt_experiments.runs.compare import compare_runs
from gpt_experiments.runs.repeats import format_metric_table
from gpt_experiments.runs.stats import Sample, hedges_g, holm, versus_best, welch_p_value
from tests.helpers import run_script
from tests.runs.test_sweeps import fake_run

SAMPLES = [
    ([4.01, 4.03, 3.98], [4.20, 4.31, 4.12]),  # clearly apart
    ([4.01, 4.03, 3.98], [4.02, 3.99, 4.05, 4.00]),  # unequal sizes, close means
    ([1.0, 2.0], [1.5, 9.0, 3.0, 0.2, 7.7]),  # very unequal spreads
]


@pytest.mark.parametrize("a, b", SAMPLES)
def test_mean_std_ci_and_welch_equal_scipy(a, b):
    sample = Sample(tuple(a))
    assert sample.mean == pytest.approx(np.mean(a)) and sample.std == pytest.approx(stats.tstd(a))
    expected_ci = stats.t.interval(0.95, len(a) - 1, loc=np.mean(a), scale=stats.sem(a))
    assert sample.ci == pytest.approx(expected_ci, rel=1e-12)

    welch = stats.ttest_ind(a, b, equal_var=False)
    diff = versus_best(a, b)
    assert diff.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert diff.p_value == pytest.approx(welch.pvalue, rel=1e-12) == welch_p_value(a, b)
    interval = welch.confidence_interval(0.95)
    assert diff.ci == pytest.approx((interval.low, interval.high), rel=1e-12)


def test_the_difference_ci_is_welchs_by_hand():
    a, b = [4.01, 4.03, 3.98], [4.20, 4.31, 4.12]
    se2_a, se2_b = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / 2 + se2_b**2 / 2)
    half = stats.t.ppf(0.975, df) * math.sqrt(se2_a + se2_b)
    diff = np.mean(a) - np.mean(b)
    assert versus_best(a, b).ci == pytest.approx((diff - half, diff + half), rel=1e-12)


def test_hedges_g_by_hand():
    # a: mean 2, var 1; b: mean 4, var 4; pooled sd = sqrt((2*1 + 2*4) / 4) = 1.58114; d = -1.26491;
    # df 4: J = Gamma(2) / (sqrt(2) Gamma(1.5)) = 1 / (1.41421 * 0.886227) = 0.797885; g = -1.00925.
    assert hedges_g([1, 2, 3], [2, 4, 6]) == pytest.approx(-1.00925, abs=1e-5)
    assert math.isnan(hedges_g([1, 1], [2, 2]))


@pytest.mark.parametrize(
    "p_values, adjusted",
    [
        # m = 3: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04, raised to the 0.06 before it.
        ([0.01, 0.04, 0.03, math.nan], [0.03, 0.06, 0.06, math.nan]),
        ([0.5, 0.001], [0.5, 0.002]),  # 0.001 * 2; 0.5 * 1
        ([0.4, 0.6], [0.8, 0.8]),  # 0.4 * 2 = 0.8; 0.6 raised to 0.8
        ([0.6, 0.7], [1.0, 1.0]),  # capped at 1
        ([0.02], [0.02]),  # one test: nothing to correct
        ([], []),
    ],
)
def test_holm_equals_hand_worked_values(p_values, adjusted):
    assert holm(p_values) == pytest.approx(adjusted, nan_ok=True)


def test_without_spread_there_is_no_p_value_and_welch_needs_two_values_a_side():
    assert math.isnan(welch_p_value([4.0, 4.0], [5.0, 5.0]))  # scipy itself would say p = 0
    assert math.isnan(versus_best([4.0, 4.0], [5.0, 5.0]).p_value)
    with pytest.raises(ValueError, match="two values"):
        welch_p_value([4.0], [5.0, 5.1])


# Best val loss of each seed for three learning rates; lr=9e-3 was run once.
SEEDS = {
    "optimizer.lr=0.003": [4.01, 4.03, 3.98],
    "optimizer.lr=0.001": [4.20, 4.25, 4.22],
    "optimizer.lr=0.002": [4.02, 4.10, 4.00],
}


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


def test_settings_over_seeds_with_ci_difference_g_and_holm_p(tmp_path):
    fake_repeats(tmp_path)
    _, comparison = compare_runs(tmp_path)
    best, close, worse, single, pruned = comparison.tables["best_val_loss"].rows

    assert best.setting.label == "optimizer.lr=0.003" and best.sample.n == 3
    assert best.sample.mean == pytest.approx(np.mean(SEEDS["optimizer.lr=0.003"]))
    raw = {
        name: stats.ttest_ind(SEEDS[name], SEEDS["optimizer.lr=0.003"], equal_var=False).pvalue
        for name in ("optimizer.lr=0.002", "optimizer.lr=0.001")
    }
    assert worse.vs_best.p_value == pytest.approx(raw["optimizer.lr=0.001"], rel=1e-10)
    # Two settings tested against the best: Holm multiplies the smaller p by 2, the larger by 1.
    low, high = sorted(raw.values())
    holm_by_hand = {name: min(1, 2 * low) if p == low else max(2 * low, high) for name, p in raw.items()}
    assert worse.p_holm == pytest.approx(holm_by_hand["optimizer.lr=0.001"], rel=1e-10) and worse.significant
    assert close.p_holm == pytest.approx(holm_by_hand["optimizer.lr=0.002"], rel=1e-10)
    # One run: a mean but no spread and no test, and it says which seeds to run.
    assert (single.sample.n, math.isnan(single.sample.std), single.vs_best) == (1, True, None)
    assert single.missing == "run seed=2,3 for optimizer.lr=0.009"
    assert (pruned.sample.n, pruned.vs_best) == (0, None)

    table = format_metric_table(comparison.tables["best_val_loss"])
    assert f"{holm_by_hand['optimizer.lr=0.001']:.3g} *  optimizer.lr=0.001" in table
    assert "n<2  optimizer.lr=0.009" in table and "best  optimizer.lr=0.003" in table
    assert "Holm-corrected for the 2 settings tested" in table
    assert "missing: run seed=2,3 for optimizer.lr=0.009" in table

    with open(tmp_path / "comparison.csv") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    row = rows["3_seed=1"]
    assert (row["setting"], row["seed"]) == ("optimizer.lr=0.001", "1")
    assert float(row["p_welch_best_val_loss"]) == pytest.approx(raw["optimizer.lr=0.001"], rel=1e-10)
    assert float(row["p_holm_best_val_loss"]) == pytest.approx(worse.p_holm, rel=1e-10)
    assert float(row["hedges_g_best_val_loss"]) == pytest.approx(worse.vs_best.hedges_g)
    assert float(row["diff_ci_low_best_val_loss"]) == pytest.approx(worse.vs_best.ci[0])
    assert row["significant_best_val_loss"] == "True" and rows["0_seed=1"]["p_holm_best_val_loss"] == ""
    assert float(rows["0_seed=1"]["setting_ci_high_best_val_loss"]) == pytest.approx(best.sample.ci[1])
    assert rows["9_lr=9e-3"]["setting_n_best_val_loss"] == "1"
    assert rows["9_lr=9e-3"]["setting_std_best_val_loss"] == ""
    assert rows["10_lr=1"]["status"] == "pruned"


def test_a_single_best_run_says_what_is_missing_instead_of_testing(tmp_path):
    fake_run(tmp_path, "0", ["optimizer.lr=0.1", "seed=1"], [4.0])
    for seed, loss in enumerate([4.5, 4.6], start=1):
        fake_run(tmp_path, f"{seed}_b", ["optimizer.lr=0.2", f"seed={seed}"], [loss])
    _, comparison = compare_runs(tmp_path)
    table = comparison.tables["best_val_loss"]
    assert all(row.vs_best is None for row in table.rows)
    assert table.rows[1].missing == "run seed=2,3 for optimizer.lr=0.1"
    assert "Holm-corrected for the 0 settings tested" in format_metric_table(table)


def test_compare_cli_prints_the_settings_tables_and_pruned_runs(tmp_path):
    fake_repeats(tmp_path)
    result = run_script("compare_runs.py", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(0 failed, 1 pruned)" in result.stdout
    assert "PRUNED: at step 2" in result.stdout
    assert "Settings: 5 (runs are one setting when their resolved configs agree" in result.stdout
    assert "no result  optimizer.lr=1" in result.stdout
    assert "At equal tokens: val loss at 64 tokens" in result.stdout


def test_a_named_baseline_is_the_reference_of_every_test(tmp_path):
    fake_repeats(tmp_path)
    _, comparison = compare_runs(tmp_path, baseline="optimizer.lr=0.001")
    table = comparison.tables["best_val_loss"]
    # Each setting is labelled by what departs from the baseline.
    assert table.reference.setting.label == "optimizer.lr=0.001"
    by_label = {row.setting.label: row for row in table.rows}
    raw = {
        name: stats.ttest_ind(SEEDS[name], SEEDS["optimizer.lr=0.001"], equal_var=False).pvalue
        for name in ("optimizer.lr=0.003", "optimizer.lr=0.002")
    }
    low, high = sorted(raw.values())
    for name, p in raw.items():
        assert by_label[name].vs_best.p_value == pytest.approx(p, rel=1e-10)
        assert by_label[name].p_holm == pytest.approx(min(1, 2 * low) if p == low else max(2 * low, high))
    assert by_label["optimizer.lr=0.001"].vs_best is None
    text = format_metric_table(table)
    assert "baseline  optimizer.lr=0.001" in text and "diff vs baseline" in text
    assert "The baseline: optimizer.lr=0.001." in text


def test_a_baseline_no_run_was_started_with_is_one_line(tmp_path):
    fake_repeats(tmp_path)
    result = run_script("compare_runs.py", str(tmp_path), "--baseline", "optimizer.lr=5", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "error: --baseline optimizer.lr=5: no run was started with it: pass one override that names one "
        "setting, as the run folders show it (e.g. ablation=gpt2)\n"
    )


def test_with_a_baseline_each_setting_is_labelled_by_what_departs_from_it(tmp_path):
    # Three settings that differ in two keys: each label names only its own departure.
    for n, overrides in enumerate(
        [["optimizer.lr=0.001"], ["optimizer.lr=0.003"], ["optimizer.lr=0.001", "data.batch_size=4"]]
    ):
        for seed in (1, 2):
            fake_run(tmp_path, f"{n}_{seed}", ["model=tiny", *overrides, f"seed={seed}"], [5.0 - n, 4.0 - n])
    _, comparison = compare_runs(tmp_path, baseline="optimizer.lr=0.001")
    labels = sorted(setting.label for setting in comparison.settings)
    assert labels == ["data.batch_size=4", "optimizer.lr=0.001", "optimizer.lr=0.003"]


def test_a_setting_that_diverged_on_some_seeds_says_so_under_its_table(tmp_path):
    """Its mean over the seeds that trained is not the whole story: 1 of 3 seeds went to NaN."""
    for seed, losses in enumerate([[4.0, 3.9], [4.1, 3.95], [math.nan, math.nan]], start=1):
        fake_run(tmp_path, f"a{seed}", ["optimizer.lr=0.01", f"seed={seed}"], losses)
    for seed, loss in enumerate([4.2, 4.25], start=1):
        fake_run(tmp_path, f"b{seed}", ["optimizer.lr=0.001", f"seed={seed}"], [loss])
    _, comparison = compare_runs(tmp_path)
    table = comparison.tables["best_val_loss"]
    assert table.rows[0].setting.label == "optimizer.lr=0.01" and table.rows[0].sample.n == 2
    assert (
        "diverged: 1 of the 3 runs of optimizer.lr=0.01 ended without a finite best val loss; "
        "its mean, n and tests leave them out"
    ) in format_metric_table(table)
