"""Both approaches on one set of points, and the prediction at a target budget."""

from __future__ import annotations

from dataclasses import dataclass

from gpt_experiments.runs.scaling.isoflop import (
    Bootstrap,
    BudgetMinimum,
    Frontier,
    bootstrap_frontier,
    fit_frontier,
    fit_minima,
)
from gpt_experiments.runs.scaling.parametric import Law, enough_points, fit_law
from gpt_experiments.runs.scaling.points import ScalingPoint

INTERVAL = 0.95


@dataclass(frozen=True)
class Prediction:
    """The compute-optimal run at ``flops``; ``*_ci``: 95% bootstrap intervals (None: no draws)."""

    flops: float
    params: float
    tokens: float
    loss: float
    params_ci: tuple[float, float] | None = None
    tokens_ci: tuple[float, float] | None = None
    loss_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class ScalingFit:
    points: list[ScalingPoint]
    minima: list[BudgetMinimum]
    frontier: Frontier
    bootstrap: Bootstrap
    law: Law | None  # approach 3; None when the points do not allow it
    law_note: str | None  # why not
    optimum: Prediction  # approach 2's power laws at the target budget
    law_optimum: Prediction | None  # approach 3's law at the target budget

    def exponent_ci(self, quantity: str) -> tuple[float, float] | None:
        if not self.bootstrap.frontiers:
            return None
        return self.bootstrap.interval(lambda f: getattr(f, quantity).exponent, INTERVAL)


def predict(frontier: Frontier, bootstrap: Bootstrap, flops: float) -> Prediction:
    def ci(quantity: str) -> tuple[float, float] | None:
        if not bootstrap.frontiers:
            return None
        return bootstrap.interval(lambda f: float(getattr(f, quantity)(flops)), INTERVAL)

    return Prediction(
        flops=flops,
        params=float(frontier.params(flops)),
        tokens=float(frontier.tokens(flops)),
        loss=float(frontier.loss(flops)),
        params_ci=ci("params"),
        tokens_ci=ci("tokens"),
        loss_ci=ci("loss"),
    )


def fit_scaling(
    points: list[ScalingPoint], target_flops: float | None = None, samples: int = 1000, seed: int = 0
) -> ScalingFit:
    """Fit approach 2 (refusing what it cannot fit) and, where the points allow, approach 3;
    predict at ``target_flops`` (default: the largest budget)."""
    minima = fit_minima(points)
    frontier = fit_frontier(minima)
    bootstrap = bootstrap_frontier(points, minima, samples, seed)
    target = target_flops if target_flops is not None else minima[-1].flops
    law_note = enough_points(points)
    law = fit_law(points) if law_note is None else None
    law_optimum = None
    if law is not None:
        params, tokens = law.optimum(target)
        law_optimum = Prediction(target, params, tokens, float(law.loss(params, tokens)))
    return ScalingFit(
        points=points,
        minima=minima,
        frontier=frontier,
        bootstrap=bootstrap,
        law=law,
        law_note=law_note,
        optimum=predict(frontier, bootstrap, target),
        law_optimum=law_optimum,
    )
