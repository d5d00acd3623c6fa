"""IsoFLOP ladders drawn from a known law, with noise: what the fit's tests, its benchmark and
the docs' ``--csv`` example recover the law from."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from gpt_experiments.runs.scaling.parametric import Law
from gpt_experiments.runs.scaling.points import ScalingPoint, budget_key

# Hoffmann et al.'s fitted law (2022, approach 3): a realistic truth for synthetic ladders.
CHINCHILLA = Law(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def synthetic_ladder(
    budgets: list[float] | np.ndarray,
    sizes_per_budget: int = 9,
    spread: float = 8.0,
    noise: float = 0.005,
    seed: int = 0,
    law: Law = CHINCHILLA,
) -> list[ScalingPoint]:
    """Per budget C, sizes from N*(C)/spread to N*(C)*spread (geometric), D = C / 6N, and
    the law's loss times exp(normal(0, noise))."""
    rng = np.random.default_rng(seed)
    points = []
    for flops in budgets:
        optimum, _ = law.optimum(flops)
        for params in optimum * np.geomspace(1 / spread, spread, sizes_per_budget):
            tokens = flops / (6 * params)
            loss = float(law.loss(params, tokens) * math.exp(rng.normal(0, noise)))
            points.append(ScalingPoint(params, tokens, flops, loss, budget_key(flops), "synthetic"))
    return points


def write_points_csv(points: list[ScalingPoint], path: Path) -> None:
    """The ``--csv`` format: params,tokens,loss,flops."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["params", "tokens", "loss", "flops"])
        writer.writerows([p.params, p.tokens, p.loss, p.flops] for p in points)
