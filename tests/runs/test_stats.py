"""stats.py against scipy and the textbook formulas over many random samples: sizes from 2,
spreads a thousand times apart, and equal values whose mean does not round back to them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gamma

from gpt_experiments.runs.stats import Sample, hedges_g, holm, versus_best, welch_p_value


def random_pairs(count: int, seed: int = 0) -> list[tuple[list[float], list[float]]]:
    """Pairs of loss-like samples of 2-8 values, spreads from 1e-4 to 1, means close or apart."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        a, b = (
            list(rng.normal(rng.uniform(1, 5), 10 ** rng.uniform(-4, 0), size=rng.integers(2, 9)))
            for _ in range(2)
        )
        pairs.append((a, b))
    return pairs


@pytest.mark.parametrize("a, b", random_pairs(200))
def test_every_statistic_equals_scipys_on_random_samples(a, b):
    sample = Sample(tuple(a))
    assert sample.mean == pytest.approx(np.mean(a), rel=1e-12)
    assert sample.std == pytest.approx(stats.tstd(a), rel=1e-9)
    low, high = stats.t.interval(0.95, len(a) - 1, loc=np.mean(a), scale=stats.sem(a))
    assert sample.ci == pytest.approx((low, high), rel=1e-12)

    welch = stats.ttest_ind(a, b, equal_var=False)
    interval = welch.confidence_interval(0.95)
    diff = versus_best(a, b)
    assert diff.diff == pytest.approx(np.mean(a) - np.mean(b), rel=1e-9, abs=1e-15)
    assert diff.p_value == pytest.approx(welch.pvalue, rel=1e-9) == welch_p_value(a, b)
    assert diff.ci == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert diff.ci[0] < diff.diff < diff.ci[1]


@pytest.mark.parametrize("a, b", random_pairs(50, seed=1))
def test_hedges_g_is_cohens_d_times_the_gamma_correction(a, b):
    df = len(a) + len(b) - 2
    pooled = math.sqrt(((len(a) - 1) * stats.tvar(a) + (len(b) - 1) * stats.tvar(b)) / df)
    correction = gamma(df / 2) / (math.sqrt(df / 2) * gamma((df - 1) / 2))
    assert hedges_g(a, b) == pytest.approx(correction * (np.mean(a) - np.mean(b)) / pooled, rel=1e-9)


def holm_by_definition(p_values: list[float]) -> list[float]:
    """Holm (1979): p_(i) adjusted = max over j <= i of min(1, (m - j + 1) p_(j))."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m = len(p_values)
    adjusted = [0.0] * m
    for rank, i in enumerate(order):
        adjusted[i] = max(min(1.0, (m - j) * p_values[order[j]]) for j in range(rank + 1))
    return adjusted


@pytest.mark.parametrize("seed", range(20))
def test_holm_equals_its_definition_on_random_p_values(seed):
    rng = np.random.default_rng(seed)
    p_values = list(rng.uniform(0, 1, size=rng.integers(1, 12)) ** 3)  # many small ones
    assert holm(p_values) == pytest.approx(holm_by_definition(p_values), rel=1e-12)
    with_nan = [*p_values, math.nan]
    assert holm(with_nan)[:-1] == pytest.approx(holm_by_definition(p_values), rel=1e-12)
    assert math.isnan(holm(with_nan)[-1])


# Equal values whose mean is rounded: np.var([0.1] * 3) is 1.9e-34, not 0.
EQUAL = [[0.1] * 3, [3.7] * 7, [2.3] * 3, [4.123456789] * 5]


@pytest.mark.parametrize("values", EQUAL)
def test_equal_values_have_no_spread_to_test_whatever_their_mean_rounds_to(values):
    other = [values[0] + 0.1] * 2
    diff = versus_best(values, other)
    assert math.isnan(diff.p_value) and math.isnan(welch_p_value(values, other))
    assert math.isnan(diff.hedges_g) and math.isnan(hedges_g(values, other))
    assert diff.diff == pytest.approx(-0.1)


@pytest.mark.parametrize("values", EQUAL)
def test_equal_values_have_the_zero_width_interval_at_their_mean(values):
    sample = Sample(tuple(values))
    assert sample.ci == (sample.mean, sample.mean)
    assert sample.mean == pytest.approx(values[0]) and sample.std == pytest.approx(0, abs=1e-12)


def test_one_constant_sample_against_a_spread_one_is_welchs_test():
    a, b = [0.1] * 3, [0.2, 0.25, 0.3]
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert versus_best(a, b).p_value == pytest.approx(welch.pvalue, rel=1e-9)


def test_too_few_or_non_finite_values_give_nan_not_numbers():
    assert math.isnan(Sample(()).mean) and math.isnan(Sample((4.0,)).std)
    assert all(math.isnan(v) for v in Sample((4.0,)).ci)
    nan_diff = versus_best([4.0, math.nan], [4.1, 4.2])
    assert all(math.isnan(v) for v in (nan_diff.diff, nan_diff.p_value, *nan_diff.ci))
