"""The scaling fit's own time: ``fit_scaling`` on a synthetic ladder (5 budgets x 20 sizes =
100 points under Chinchilla's law, 0.5% noise) with 1,000 bootstrap draws, both approaches."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from gpt_experiments.runs.scaling.fit import fit_scaling
from gpt_experiments.runs.scaling.synthetic import synthetic_ladder


def time_scaling_fit(
    points: int = 100, budgets: int = 5, samples: int = 1000, rounds: int = 3
) -> dict[str, Any]:
    """Median and all rounds' seconds of one whole fit (minima, bootstrap, law, prediction)."""
    ladder = synthetic_ladder(np.logspace(18, 21, budgets), sizes_per_budget=points // budgets)
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        fit_scaling(ladder, target_flops=1e23, samples=samples)
        seconds.append(time.perf_counter() - started)
    return {
        "points": len(ladder),
        "bootstrap_samples": samples,
        "median_s": statistics.median(seconds),
        "rounds_s": seconds,
    }
