"""Chinchilla's approach 2: an IsoFLOP parabola per budget, then power laws through the minima.

Within one budget C the loss is fitted as a parabola in x = ln N; its vertex is that budget's
compute-optimal size N*(C), and the tokens there follow from the budget's own (ln N, ln D)
line (D is C over the FLOPs per token, nearly proportional to 1/N). Across budgets,
N*, D* and the loss at the vertex are fitted as power laws ``k C^a`` (lines in log-log).

The confidence intervals come from a residual bootstrap: every budget keeps its sizes, each
loss is redrawn as its parabola's value plus a residual drawn from all budgets' residuals
(scaled up for the parameters the parabolas used), and everything is refitted. Resampling
whole runs instead would often leave a budget with fewer than three sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpt_experiments.runs.scaling.points import ScalingError, ScalingPoint, by_budget

MIN_SIZES = 3  # a parabola needs three points


@dataclass(frozen=True)
class BudgetMinimum:
    flops: float  # the budget C
    params: float  # N*, the vertex
    tokens: float  # D* at N*
    loss: float  # the parabola's value at N*
    parabola: tuple[float, float, float]  # loss = a x^2 + b x + c, x = ln N
    sizes: int


@dataclass(frozen=True)
class PowerLaw:
    """``y = coefficient * C ** exponent``."""

    coefficient: float
    exponent: float

    def __call__(self, flops: float | np.ndarray) -> float | np.ndarray:
        return self.coefficient * np.asarray(flops, dtype=float) ** self.exponent


@dataclass(frozen=True)
class Frontier:
    """N*(C), D*(C) and L*(C) through the budgets' minima."""

    params: PowerLaw
    tokens: PowerLaw
    loss: PowerLaw


def check_budget_sizes(budget: float, points: list[ScalingPoint]) -> None:
    sizes = len({p.params for p in points})
    if sizes < MIN_SIZES:
        raise ScalingError(
            f"budget {budget:.3g} FLOPs has {sizes} model size(s): an IsoFLOP parabola needs at least "
            f"{MIN_SIZES}; add sizes to that budget (model.depth=...) or leave it out"
        )


def vertex(parabola: np.ndarray) -> float:
    """The x of a parabola's lowest point (inf when it opens downwards or is flat)."""
    a, b, _ = parabola
    return -b / (2 * a) if a > 0 else np.inf


def budget_minimum(
    budget: float, points: list[ScalingPoint], losses: np.ndarray | None = None
) -> BudgetMinimum:
    """The vertex of one budget's parabola; ``losses`` replaces the points' (a bootstrap draw).

    Refuses a budget whose vertex is not between its smallest and largest size: the optimum
    is then outside what was trained, and a parabola's extrapolation there is a guess.
    """
    x = np.log([p.params for p in points])
    y = np.asarray([p.loss for p in points]) if losses is None else losses
    parabola = np.polyfit(x, y, 2)
    best = vertex(parabola)
    if not x.min() <= best <= x.max():
        side = "smaller" if best < x.min() else "larger"
        where = "below its smallest" if side == "smaller" else "beyond its largest"
        if not np.isfinite(best):
            side, where = "larger and smaller", "not inside (the losses curve downwards)"
        raise ScalingError(
            f"budget {budget:.3g} FLOPs has its loss minimum {where} model size: train {side} models "
            f"at that budget so that the minimum lies between the sizes (or leave the budget out)"
        )
    tokens_line = np.polyfit(x, np.log([p.tokens for p in points]), 1)
    return BudgetMinimum(
        flops=budget,
        params=float(np.exp(best)),
        tokens=float(np.exp(np.polyval(tokens_line, best))),
        loss=float(np.polyval(parabola, best)),
        parabola=tuple(float(v) for v in parabola),
        sizes=len(set(x)),
    )


def power_law(flops: np.ndarray, values: np.ndarray) -> PowerLaw:
    exponent, log_coefficient = np.polyfit(np.log(flops), np.log(values), 1)
    return PowerLaw(float(np.exp(log_coefficient)), float(exponent))


def fit_frontier(minima: list[BudgetMinimum]) -> Frontier:
    if len(minima) < 2:
        raise ScalingError(
            f"{len(minima)} budget: power laws across budgets need at least 2 (3 or more to judge the "
            "fit); train the ladder at more max_flops values"
        )
    flops = np.array([m.flops for m in minima])
    return Frontier(
        params=power_law(flops, np.array([m.params for m in minima])),
        tokens=power_law(flops, np.array([m.tokens for m in minima])),
        loss=power_law(flops, np.array([m.loss for m in minima])),
    )


def fit_minima(points: list[ScalingPoint]) -> list[BudgetMinimum]:
    """Each budget's minimum, ascending by budget; refuses budgets that cannot be fitted."""
    groups = by_budget(points)
    for budget, group in groups.items():
        check_budget_sizes(budget, group)
    return [budget_minimum(budget, group) for budget, group in groups.items()]


@dataclass(frozen=True)
class Bootstrap:
    """The frontier refitted on ``samples`` redrawn data sets (``dropped``: draws whose vertex
    left a budget's sizes, which are not counted)."""

    frontiers: list[Frontier]
    dropped: int

    def interval(self, value_of, level: float = 0.95) -> tuple[float, float]:
        """The central ``level`` interval of ``value_of(frontier)`` over the draws."""
        values = np.array([value_of(frontier) for frontier in self.frontiers])
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)


def bootstrap_frontier(
    points: list[ScalingPoint], minima: list[BudgetMinimum], samples: int, seed: int
) -> Bootstrap:
    groups = list(by_budget(points).items())
    fitted = [
        np.polyval(m.parabola, np.log([p.params for p in group]))
        for m, (_, group) in zip(minima, groups, strict=True)
    ]
    residuals = np.concatenate(
        [[p.loss for p in group] - fit for fit, (_, group) in zip(fitted, groups, strict=True)]
    )
    n, used = len(residuals), 3 * len(groups)
    residuals = residuals * np.sqrt(n / (n - used)) if n > used else residuals
    rng = np.random.default_rng(seed)
    frontiers, dropped = [], 0
    for _ in range(samples):
        try:
            draw = [
                budget_minimum(budget, group, fit + rng.choice(residuals, size=len(group)))
                for fit, (budget, group) in zip(fitted, groups, strict=True)
            ]
        except ScalingError:
            dropped += 1
            continue
        frontiers.append(fit_frontier(draw))
    return Bootstrap(frontiers, dropped)
