"""The seed reproduction's statistics, checked on fabricated run folders against numpy and scipy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import percentileofscore, ttest_ind

from benchmarks.repro_seeds import PLOT_NAME, REPORT_NAME
from benchmarks.repro_seeds import main as repro_main
from benchmarks.seed_distribution import PUBLISHED, Spread, compare, markdown_table
from gpt_experiments.errors import DataError
from gpt_experiments.run_folder.history import perplexity, write_history_csv
from tests.helpers import ROOT, run_script

# Step-90 losses per seed, made up: the chapter's memorise faster in this fabrication.
TRAIN_90 = {"project": [1.02, 0.85, 1.10, 0.95, 0.90], "chapter": [0.70, 0.62, 0.81, 0.75]}
VAL_90 = {"project": [6.33, 6.40, 6.28, 6.35, 6.45], "chapter": [6.31, 6.36, 6.30, 6.29]}


def fake_run(
    root: Path, overlay: str, implementation: str, seed: int, train_90: float, val_90: float
) -> None:
    """A run folder with evaluations at steps 80, 85 and 90 (85 and 80 offset from 90)."""
    run_dir = root / overlay / implementation / f"seed_{seed}"
    run_dir.mkdir(parents=True)
    rows = [
        {
            "step": step,
            "epoch": step / 9,
            "tokens_seen": step * 512,
            "train_loss": train_90 + (90 - step) * 0.1,
            "val_loss": val_90 - (90 - step) * 0.01,
            "val_ppl": perplexity(val_90 - (90 - step) * 0.01),
        }
        for step in (80, 85, 90)
    ]
    write_history_csv(rows, run_dir)


@pytest.fixture
def fabricated(tmp_path: Path) -> Path:
    for implementation, losses in TRAIN_90.items():
        for seed, (train, val) in enumerate(zip(losses, VAL_90[implementation], strict=True)):
            fake_run(tmp_path, "lr4e-4", implementation, seed, train, val)
    return tmp_path


def test_mean_std_n_and_welch_p_match_numpy_and_scipy(fabricated):
    comparisons = compare(fabricated, ["lr4e-4"], [85, 90])
    assert [(c.step, c.loss) for c in comparisons] == [
        (85, "train_eval"),
        (85, "val"),
        (90, "train_eval"),
        (90, "val"),
    ]
    at_90 = {c.loss: c for c in comparisons if c.step == 90}
    for loss, table in (("train_eval", TRAIN_90), ("val", VAL_90)):
        comparison = at_90[loss]
        for implementation, values in table.items():
            spread = comparison.spreads[implementation]
            assert spread.n == len(values)
            assert spread.mean == pytest.approx(np.mean(values))
            assert spread.std == pytest.approx(np.std(values, ddof=1))
        expected = ttest_ind(table["project"], table["chapter"], equal_var=False).pvalue
        assert comparison.p_value == pytest.approx(expected, rel=1e-9)
    # Step 85 really is read from its own row: 0.5 above step 90's train losses.
    at_85 = next(c for c in comparisons if c.step == 85 and c.loss == "train_eval")
    assert at_85.spreads["project"].mean == pytest.approx(np.mean(TRAIN_90["project"]) + 0.5)


def test_published_point_is_placed_at_step_85_only(fabricated):
    comparisons = compare(fabricated, ["lr4e-4"], [85, 90])
    assert all(c.published is None for c in comparisons if c.step == 90)
    train_85 = next(c for c in comparisons if c.step == 85 and c.loss == "train_eval")
    assert train_85.published == PUBLISHED["lr4e-4"]["train_eval"] == 0.39
    values = [v + 0.5 for v in TRAIN_90["chapter"]]
    spread = train_85.spreads["chapter"]
    assert spread.z_score(0.39) == pytest.approx((0.39 - np.mean(values)) / np.std(values, ddof=1))
    assert spread.percentile(0.39) == pytest.approx(percentileofscore(values, 0.39, kind="mean"))


@pytest.mark.parametrize("value", [0.5, 0.7, 0.75, 2.0])
def test_percentile_counts_ties_half_like_scipy(value):
    values = [0.7, 0.7, 0.8, 0.6]
    assert Spread(tuple(values)).percentile(value) == pytest.approx(
        percentileofscore(values, value, kind="mean")
    )


def test_one_seed_has_no_std_z_score_or_p_value(tmp_path):
    fake_run(tmp_path, "lr5e-4", "project", 1, 0.8, 6.3)
    fake_run(tmp_path, "lr5e-4", "chapter", 1, 0.7, 6.3)
    comparison = compare(tmp_path, ["lr5e-4"], [85])[0]
    assert math.isnan(comparison.spreads["project"].std)
    assert math.isnan(comparison.spreads["project"].z_score(0.762))
    assert comparison.p_value is None
    assert "| lr5e-4 | 85 | train_eval | 1.300 ± - (n=1) | 1.200 ± - (n=1) | - | 0.762 |" in markdown_table(
        [comparison]
    )


def test_a_run_without_the_step_is_named_in_the_error(fabricated):
    with pytest.raises(DataError, match=r"seed_0 has no evaluation at step 75"):
        compare(fabricated, ["lr4e-4"], [75])
    with pytest.raises(DataError, match=r"no runs under .*lr5e-4"):
        compare(fabricated, ["lr5e-4"], [85])


def test_report_only_writes_the_table_and_plot(fabricated, capsys):
    repro_main(["--out", str(fabricated), "--overlays", "lr4e-4", "--report-only"])
    report = (fabricated / REPORT_NAME).read_text()
    mean = np.mean(TRAIN_90["project"])
    std = np.std(TRAIN_90["project"], ddof=1)
    assert f"| lr4e-4 | 90 | train_eval | {mean:.3f} ± {std:.3f} (n=5) |" in report
    assert "Commit: " in report and "CPU cores" in report
    assert (fabricated / PLOT_NAME).stat().st_size > 10_000


def test_report_only_without_runs_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        repro_main(["--out", str(tmp_path), "--report-only"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: no runs under {tmp_path / 'lr4e-4'}: run the seeds first (see docs/reproduction.md)"
    ]
    assert list(tmp_path.iterdir()) == []  # no report written


def test_repeated_seeds_are_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        repro_main(["--out", str(tmp_path / "out"), "--seeds", "1,1"])
    assert "repeats a seed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_names_the_options(tmp_path):
    result = run_script("repro_seeds.py", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--seeds", "--steps", "--implementations", "--overlays", "--report-only"):
        assert option in result.stdout
    assert (ROOT / "docs" / "reproduction.md").is_file()  # the guide the error and help point to
