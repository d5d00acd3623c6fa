"""Chinchilla's approach 3: the law L(N, D) = E + A / N^alpha + B / D^beta fitted to every point.

As Hoffmann et al. (2022, appendix D.2) and Besiroglu et al. (2024) fit it: with
A = e^a, B = e^b, E = e^e, the predicted log-loss is logsumexp(a - alpha ln N,
b - beta ln D, e), and the Huber loss (delta 1e-3) of its difference to the measured
log-loss is minimised by a quasi-Newton method. The objective has many local minima, so the
search runs from several starts: the best points of the papers' grid, and the best exponents
(alpha, beta) of a finer grid on which the law is linear in E, A and B, solved by least squares.
The grid's best points alone sit at its corners (alpha or beta 0) and often lead to a
flat region far from the minimum.
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
# Exponents at which E, A and B are solved linearly for starts; the best LINEAR_STARTS are used.
EXPONENTS = np.arange(0.05, 2.01, 0.05)
LINEAR_STARTS = 10
# BFGS stops once the gradient's norm is below this. The Huber slope is at most HUBER_DELTA per
# point, so scipy's default (1e-5) stopped searches far from the minimum: E 0.60 for a true 2.45.
GRADIENT_TOLERANCE = 1e-10
# Steps per search: the starts that reach the minimum take about 70; those in a flat region
# would crawl on for BFGS's default 1,000 at that tolerance.
MAX_STEPS = 200
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


def grid_starts(log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """Hoffmann et al.'s grid points with the lowest objective (``[STARTS, 5]``)."""
    starts = np.array(list(itertools.product(*(GRID[k] for k in ("a", "b", "e", "alpha", "beta")))))
    return starts[np.argsort(grid_losses(starts, log_n, log_d, log_loss))[:STARTS]]


def linear_starts(log_n: np.ndarray, log_d: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """For each (alpha, beta) of ``EXPONENTS``, E, A and B by least squares on the loss; the
    ``LINEAR_STARTS`` best with all three positive, as (a, b, e, alpha, beta) rows."""
    alpha, beta = (grid.ravel() for grid in np.meshgrid(EXPONENTS, EXPONENTS, indexing="ij"))
    ones = np.ones((len(alpha), len(loss)))
    columns = np.stack([ones, np.exp(-alpha[:, None] * log_n), np.exp(-beta[:, None] * log_d)], axis=2)
    scale = np.linalg.norm(columns, axis=1, keepdims=True)  # unit columns: N^-alpha may be 1e-6
    coefficients = np.einsum("kij,j->ki", np.linalg.pinv(columns / scale), loss) / scale[:, 0]
    errors = ((np.einsum("kij,kj->ki", columns, coefficients) - loss) ** 2).sum(axis=1)
    usable = np.flatnonzero((coefficients > 0).all(axis=1))
    best = usable[np.argsort(errors[usable])[:LINEAR_STARTS]]
    e, a, b = np.log(coefficients[best]).T
    return np.stack([a, b, e, alpha[best], beta[best]], axis=1)


def fit_law(points: list[ScalingPoint]) -> Law:
    log_n = np.log([p.params for p in points])
    log_d = np.log([p.tokens for p in points])
    loss = np.array([p.loss for p in points])
    log_loss = np.log(loss)
    starts = np.concatenate([grid_starts(log_n, log_d, log_loss), linear_starts(log_n, log_d, loss)])
    fits = [
        minimize(
            objective,
            start,
            args=(log_n, log_d, log_loss),
            jac=True,
            method="BFGS",
            options={"gtol": GRADIENT_TOLERANCE, "maxiter": MAX_STEPS},
        )
        for start in starts
    ]
    a, b, e, alpha, beta = min(fits, key=lambda fit: fit.fun).x
    return Law(
        E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=float(alpha), beta=float(beta)
    )
