"""The statistics of comparing settings over seeds, all from scipy but Holm's correction.

Per setting: mean, sample standard deviation, n and the 95% confidence interval of the mean
(Student's t). Against the best setting: the difference of means with its 95% confidence
interval and p-value from Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``), and
Hedges' g (the standardized difference, corrected for small samples). p-values are
Holm-corrected for the number of settings tested against the best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import gammaln

CONFIDENCE = 0.95
# Differences with a smaller (Holm-corrected) p-value are marked as significant.
SIGNIFICANCE_LEVEL = 0.05


class SampleStats:
    """Count, mean and sample standard deviation of ``values`` (NaN where they cannot be had)."""

    values: Sequence[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1 in the denominator); NaN for fewer than two values."""
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else math.nan

    @property
    def ci(self) -> tuple[float, float]:
        """95% confidence interval of the mean (t distribution, n - 1 degrees of freedom); NaN for
        n < 2, and the mean itself for equal values (scipy refuses a scale of 0 with NaN)."""
        if self.n < 2:
            return math.nan, math.nan
        if constant(self.values):
            return self.mean, self.mean
        low, high = stats.t.interval(CONFIDENCE, self.n - 1, loc=self.mean, scale=stats.sem(self.values))
        return float(low), float(high)


@dataclass(frozen=True)
class Sample(SampleStats):
    values: tuple[float, ...]


@dataclass(frozen=True)
class Difference:
    """A setting against the best: ``mean - best mean`` (positive: worse), its 95% CI, g and p."""

    diff: float
    ci: tuple[float, float]
    hedges_g: float
    p_value: float  # NaN when neither sample has any spread (the test is undefined)


def constant(values: Sequence[float]) -> bool:
    """All values equal. Compared as written, not by variance: the mean of equal values is
    rounded (three 0.1s average 0.10000000000000002), leaving a variance of 1e-34."""
    return all(value == values[0] for value in values)


def no_spread(a: Sequence[float], b: Sequence[float]) -> bool:
    """Both samples constant: Welch's standard error is 0 (or a rounding error's), and scipy
    would report p = 0 (or some p below 1e-30)."""
    return constant(a) and constant(b)


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that ``a`` and ``b`` share a mean; NaN without spread."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two values in each sample")
    if no_spread(a, b):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean a - mean b) / pooled standard deviation, times the exact small-sample correction
    J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = n_a + n_b - 2 (Hedges 1981)."""
    if no_spread(a, b):
        return math.nan
    df = len(a) + len(b) - 2
    pooled = math.sqrt(((len(a) - 1) * np.var(a, ddof=1) + (len(b) - 1) * np.var(b, ddof=1)) / df)
    correction = math.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return correction * (float(np.mean(a)) - float(np.mean(b))) / pooled


def versus_best(values: Sequence[float], best: Sequence[float]) -> Difference:
    """``values`` against the best setting's; both need two values or more."""
    diff = float(np.mean(values) - np.mean(best))
    if no_spread(values, best):
        return Difference(diff, (math.nan, math.nan), math.nan, math.nan)
    result = stats.ttest_ind(values, best, equal_var=False)
    interval = result.confidence_interval(CONFIDENCE)  # Welch's df, like the test
    return Difference(
        diff, (float(interval.low), float(interval.high)), hedges_g(values, best), float(result.pvalue)
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment, in the order given; NaN p-values are left out of the count.

    Sorted ascending, the i-th smallest of m p-values becomes (m - i + 1) p_(i) (i from 1),
    made no smaller than the one before it and capped at 1.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted
