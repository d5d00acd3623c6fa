"""Chinchilla's approach 3: the law L(N, D) = E + A / N^alpha + B / D^beta fitted to every point.

As Hoffmann et al. (2022, appendix D.2) and Besiroglu et al. (2024) fit it: with
A = e^a, B = e^b, E = e^e, the predicted log-loss is logsumexp(a - alpha ln N,
b - beta ln D, e), and the Huber loss (delta 1e-3) of its difference to the measured
log-loss is minimised by a quasi-Newton method. The objective has many local minima, so it is
evaluated on a grid of starting points first and the search runs from the best of them.
The method is BFGS rather than the papers' L-BFGS: with five parameters the two take the
same steps, and SciPy's L-BFGS-B calls multithreaded BLAS on five-element vectors, which on
a busy CPU made the fit ten times slower.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import logsumexp, softmax

from gpt_experiments.runs.scaling.points import ScalingPoint

HUBER_DELTA = 1e-3
# Hoffmann et al.'s grid (alpha, beta, e, a, b), each a range of starting values.
GRID = {
    "a": np.arange(0.0, 30.0, 5.0),
    "b": np.arange(0.0, 30.0, 5.0),
    "e": np.arange(-1.0, 1.5, 0.5),
    "alpha": np.arange(0.0, 2.5, 0.5),
    "beta": np.arange(0.0, 2.5, 0.5),
}
STARTS = 20  # the search runs from this many of the grid's best points
MIN_POINTS = 6  # five parameters, and at least one point to spare


@dataclass(frozen=True)
class Law:
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, params: float | np.ndarray, tokens: float | np.ndarray) -> float | np.ndarray:
        return self.E + self.A / np.power(params, self.alpha) + self.B / np.power(tokens, self.beta)

    def optimum(
        self, flops: float, flops_per_token: Callable[[float], float] = lambda params: 6 * params
    ) -> tuple[float, float]:
        """N and D minimising the loss where C = D x ``flops_per_token(N)``.

        With Hoffmann et al.'s C = 6 N D (the default) this is their eq. 4 in closed form;
        small models spend much of their compute outside 6N (the output head, attention), so
        a ladder's own cost per token moves the optimum. The loss is convex in ln N along a
        budget (one term falls with N, the other rises), so a bounded scalar search finds it.
        """

        def loss_at(log_params: float) -> float:
            params = math.exp(log_params)
            return float(self.loss(params, flops / flops_per_token(params)))

        best = minimize_scalar(
            loss_at, bounds=(0.0, math.log(flops)), method="bounded", options={"xatol": 1e-9}
        )
        params = math.exp(best.x)
        return params, float(flops / flops_per_token(params))


def huber(residual: np.ndarray, delta: float) -> np.ndarray:
    small = np.abs(residual) <= delta
    return np.where(small, 0.5 * residual**2, delta * (np.abs(residual) - 0.5 * delta))


def objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray):
    """The summed Huber loss and its gradient in theta = (a, b, e, alpha, beta)."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    residual = logsumexp(terms, axis=0) - log_loss
    slope = np.clip(residual, -HUBER_DELTA, HUBER_DELTA)  # the Huber loss's derivative
    share = softmax(terms, axis=0) * slope  # d logsumexp / d term, times the outer derivative
    gradient = np.array(
        [share[0].sum(), share[1].sum(), share[2].sum(), -(share[0] * log_n).sum(), -(share[1] * log_d).sum()]
    )
    return huber(residual, HUBER_DELTA).sum(), gradient


def grid_losses(starts: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """The objective at every starting point at once (starts: ``[k, 5]``)."""
    a, b, e, alpha, beta = (starts[:, i : i + 1] for i in range(5))
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.broadcast_to(e, (len(starts), len(log_n)))])
    residual = logsumexp(terms, axis=0) - log_loss
    return huber(residual, HUBER_DELTA).sum(axis=1)


def enough_points(points: list[ScalingPoint]) -> str | None:
    """Why the law cannot be fitted to ``points``, or None when it can."""
    if len(points) < MIN_POINTS:
        return f"{len(points)} points for 5 parameters (at least {MIN_POINTS} needed)"
    if len({p.params for p in points}) < 3 or len({p.tokens for p in points}) < 3:
        return "fewer than 3 distinct sizes or token counts"
    return None


def fit_law(points: list[ScalingPoint]) -> Law:
    log_n = np.log([p.params for p in points])
    log_d = np.log([p.tokens for p in points])
    log_loss = np.log([p.loss for p in points])
    starts = np.array(list(itertools.product(*(GRID[k] for k in ("a", "b", "e", "alpha", "beta")))))
    best_starts = starts[np.argsort(grid_losses(starts, log_n, log_d, log_loss))[:STARTS]]
    fits = [
        minimize(objective, start, args=(log_n, log_d, log_loss), jac=True, method="BFGS")
        for start in best_starts
    ]
    a, b, e, alpha, beta = min(fits, key=lambda fit: fit.fun).x
    return Law(
        E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=float(alpha), beta=float(beta)
    )
