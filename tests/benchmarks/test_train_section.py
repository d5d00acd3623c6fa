"""The train section's summary: medians over rounds, and the ratios the issue quotes from them."""

from __future__ import annotations

import argparse
from itertools import count

import pytest

from benchmarks import benchmark


def test_every_figure_is_the_median_of_the_rounds_and_ratios_come_from_the_medians(monkeypatch):
    # Each run of a variant gets the next value of its own counter: rounds give 1x, 2x, 3x.
    factors = {"seed/32-true": 100, "lightning/32-true": 150, "plain/32-true": 160}
    rounds = {name: count(1) for name in factors}

    def fake_worker(section: str, settings: dict) -> dict:
        name = f"{settings['variant']}/{settings['precision']}"
        r = next(rounds[name])
        return {"tokens_per_sec": factors[name] * r, "peak_rss_mb": 10.0 * r, "minor_page_faults": 1000 * r}

    monkeypatch.setattr(benchmark, "run_worker", fake_worker)
    args = argparse.Namespace(precisions=["32-true"], batch_size=2, steps=3, warmup=1, rounds=3)
    report = benchmark.train_section(args, model={}, cache_dir="unused")

    assert report["summary"]["lightning/32-true"] == {
        "tokens_per_sec": 300,
        "peak_rss_mb": 20.0,
        "minor_page_faults": 2000,
    }
    comparison = report["comparisons"]["32-true"]
    assert comparison["speedup_over_seed"] == pytest.approx(1.5)
    assert comparison["rss_fraction_of_seed"] == pytest.approx(1.0)
    assert comparison["lightning_overhead_vs_plain_loop"] == pytest.approx(1 - 150 / 160)
    assert [len(runs) for runs in report["runs"].values()] == [3, 3, 3]
