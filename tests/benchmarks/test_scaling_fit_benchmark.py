"""The scaling section times whole fits of the points it says."""

from benchmarks.scaling_fit import time_scaling_fit


def test_the_scaling_section_times_each_round_of_a_fit_of_that_many_points():
    report = time_scaling_fit(points=30, budgets=3, samples=20, rounds=2)
    assert report["points"] == 30 and report["bootstrap_samples"] == 20
    assert len(report["rounds_s"]) == 2 and min(report["rounds_s"]) <= report["median_s"] <= max(
        report["rounds_s"]
    )
    assert report["median_s"] > 0
