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
    """``y = coefficient * x ** exponent``: x is the budget C on the frontier."""

    coefficient: float
    exponent: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.coefficient * np.asarray(x, dtype=float) ** self.exponent


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


@dataclass(frozen=True)
class IsoFlopCurve:
    """One budget's runs as the fit uses them, computed once (the bootstrap refits the
    parabola a thousand times): x = ln N, the losses, and the budget's (ln N, ln D) line."""

    budget: float
    x: np.ndarray
    losses: np.ndarray
    tokens_line: np.ndarray

    @classmethod
    def of(cls, budget: float, points: list[ScalingPoint]) -> IsoFlopCurve:
        check_budget_sizes(budget, points)
        x = np.log([p.params for p in points])
        tokens_line = np.polyfit(x, np.log([p.tokens for p in points]), 1)
        return cls(budget, x, np.array([p.loss for p in points]), tokens_line)

    def minimum(self, losses: np.ndarray | None = None) -> BudgetMinimum:
        """The vertex of the parabola through the losses (``losses``: a bootstrap draw's).

        Refuses a vertex that is not between the smallest and largest size: the optimum is
        then outside what was trained, and a parabola's extrapolation there is a guess.
        """
        x = self.x
        parabola = np.polyfit(x, self.losses if losses is None else losses, 2)
        best = vertex(parabola)
        if not x.min() <= best <= x.max():
            side = "smaller" if best < x.min() else "larger"
            where = "below its smallest" if side == "smaller" else "beyond its largest"
            if not np.isfinite(best):
                side, where = "larger and smaller", "not inside (the losses curve downwards)"
            raise ScalingError(
                f"budget {self.budget:.3g} FLOPs has its loss minimum {where} model size: train {side} "
                "models at that budget so that the minimum lies between the sizes (or leave the budget out)"
            )
        return BudgetMinimum(
            flops=self.budget,
            params=float(np.exp(best)),
            tokens=float(np.exp(np.polyval(self.tokens_line, best))),
            loss=float(np.polyval(parabola, best)),
            parabola=tuple(float(v) for v in parabola),
            sizes=len(set(x)),
        )


def isoflop_curves(points: list[ScalingPoint]) -> list[IsoFlopCurve]:
    """One curve per budget, ascending; refuses a budget with too few sizes."""
    return [IsoFlopCurve.of(budget, group) for budget, group in by_budget(points).items()]


def power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
    """The least-squares line through (ln x, ln y)."""
    exponent, log_coefficient = np.polyfit(np.log(x), np.log(y), 1)
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


@dataclass(frozen=True)
class Bootstrap:
    """The frontier refitted on ``samples`` redrawn data sets (``dropped``: draws whose vertex
    left a budget's sizes, which are not counted)."""

    frontiers: list[Frontier]
    dropped: int

    def interval(self, value_of, level: float = 0.95) -> tuple[float, float] | None:
        """The central ``level`` interval of ``value_of(frontier)`` over the draws (None: no draws)."""
        if not self.frontiers:
            return None
        values = np.array([value_of(frontier) for frontier in self.frontiers])
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)


def bootstrap_frontier(
    curves: list[IsoFlopCurve], minima: list[BudgetMinimum], samples: int, seed: int
) -> Bootstrap:
    fitted = [np.polyval(m.parabola, curve.x) for m, curve in zip(minima, curves, strict=True)]
    residuals = np.concatenate([curve.losses - fit for fit, curve in zip(fitted, curves, strict=True)])
    n, used = len(residuals), 3 * len(curves)
    residuals = residuals * np.sqrt(n / (n - used)) if n > used else residuals
    rng = np.random.default_rng(seed)
    frontiers, dropped = [], 0
    for _ in range(samples):
        try:
            draw = [
                curve.minimum(fit + rng.choice(residuals, size=len(fit)))
                for fit, curve in zip(fitted, curves, strict=True)
            ]
        except ScalingError:
            dropped += 1
            continue
        frontiers.append(fit_frontier(draw))
    return Bootstrap(frontiers, dropped)
