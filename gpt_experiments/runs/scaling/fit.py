"""Both approaches on one set of points, and the prediction at a target budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpt_experiments.runs.scaling.isoflop import (
    Bootstrap,
    BudgetMinimum,
    Frontier,
    PowerLaw,
    bootstrap_frontier,
    fit_frontier,
    isoflop_curves,
    power_law,
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
class Check:
    """A run left out of the fit (e.g. one trained at a larger budget with the predicted size)
    against what the fit predicts for it."""

    source: str
    flops: float
    params: float
    tokens: float
    loss: float  # measured
    law_loss: float | None  # approach 3's L(N, D) at the run's own N and D
    optimum: Prediction  # approach 2's compute-optimal run at the run's compute


@dataclass(frozen=True)
class ScalingFit:
    points: list[ScalingPoint]
    minima: list[BudgetMinimum]
    frontier: Frontier
    bootstrap: Bootstrap
    flops_per_token: PowerLaw  # C/D against N, as the points spent it
    law: Law | None  # approach 3; None when the points do not allow it
    law_note: str | None  # why not
    optimum: Prediction  # approach 2's power laws at the target budget
    law_optimum: Prediction | None  # approach 3's law at the target budget
    checks: list[Check]

    def exponent_ci(self, quantity: str) -> tuple[float, float] | None:
        return self.bootstrap.interval(lambda f: getattr(f, quantity).exponent, INTERVAL)


def predict(frontier: Frontier, bootstrap: Bootstrap, flops: float) -> Prediction:
    def ci(quantity: str) -> tuple[float, float] | None:
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


def fit_flops_per_token(points: list[ScalingPoint]) -> PowerLaw:
    """Training FLOPs per token as a power of N, from the points' own C/D: exactly 6N for
    points counted as 6ND, more for small models, whose output head and attention cost
    compute outside N."""
    return power_law(np.array([p.params for p in points]), np.array([p.flops / p.tokens for p in points]))


def check_run(point: ScalingPoint, frontier: Frontier, bootstrap: Bootstrap, law: Law | None) -> Check:
    return Check(
        source=point.source,
        flops=point.flops,
        params=point.params,
        tokens=point.tokens,
        loss=point.loss,
        law_loss=None if law is None else float(law.loss(point.params, point.tokens)),
        optimum=predict(frontier, bootstrap, point.flops),
    )


def fit_scaling(
    points: list[ScalingPoint],
    target_flops: float | None = None,
    samples: int = 1000,
    seed: int = 0,
    checks: Sequence[ScalingPoint] = (),
) -> ScalingFit:
    """Fit approach 2 (refusing what it cannot fit) and, where the points allow, approach 3;
    predict at ``target_flops`` (default: the largest budget) and for each run in ``checks``."""
    curves = isoflop_curves(points)
    minima = [curve.minimum() for curve in curves]
    frontier = fit_frontier(minima)
    bootstrap = bootstrap_frontier(curves, minima, samples, seed)
    target = target_flops if target_flops is not None else minima[-1].flops
    flops_per_token = fit_flops_per_token(points)
    law_note = enough_points(points)
    law = fit_law(points) if law_note is None else None
    law_optimum = None
    if law is not None:
        params, tokens = law.optimum(target, flops_per_token)
        law_optimum = Prediction(target, params, tokens, float(law.loss(params, tokens)))
    return ScalingFit(
        points=points,
        minima=minima,
        frontier=frontier,
        bootstrap=bootstrap,
        flops_per_token=flops_per_token,
        law=law,
        law_note=law_note,
        optimum=predict(frontier, bootstrap, target),
        law_optimum=law_optimum,
        checks=[check_run(point, frontier, bootstrap, law) for point in checks],
    )
