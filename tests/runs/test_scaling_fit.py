"""The scaling fit: recovery of a known law from noisy points, and what it refuses."""

import json

import numpy as np
import pytest

from gpt_experiments.cli.scaling import main as scaling_main
from gpt_experiments.runs.scaling.fit import fit_scaling
from gpt_experiments.runs.scaling.isoflop import fit_frontier, isoflop_curves
from gpt_experiments.runs.scaling.parametric import Law, fit_law, objective
from gpt_experiments.runs.scaling.points import ScalingError, ScalingPoint, points_from_csv
from gpt_experiments.runs.scaling.synthetic import CHINCHILLA, synthetic_ladder, write_points_csv

TRUE_PARAMS_EXPONENT = CHINCHILLA.beta / (CHINCHILLA.alpha + CHINCHILLA.beta)  # 0.452


def ladder(budgets, sizes_per_budget=9, noise=0.005):
    return synthetic_ladder(budgets, sizes_per_budget=sizes_per_budget, noise=noise)


def fit_minima(points):
    return [curve.minimum() for curve in isoflop_curves(points)]


def test_the_fit_recovers_a_known_law_from_noisy_points():
    """5 budgets x 9 sizes, 0.5% noise: exponents within 0.03, E within 2%, N*(C) exponent within
    0.02 of beta/(alpha+beta), and the optimum at 100x the largest budget within 15% in N and D."""
    fit = fit_scaling(ladder(np.logspace(18, 21, 5)), target_flops=1e23, samples=200)
    assert fit.law.alpha == pytest.approx(CHINCHILLA.alpha, abs=0.03)
    assert fit.law.beta == pytest.approx(CHINCHILLA.beta, abs=0.03)
    assert pytest.approx(CHINCHILLA.E, rel=0.02) == fit.law.E
    assert fit.frontier.params.exponent == pytest.approx(TRUE_PARAMS_EXPONENT, abs=0.02)
    assert fit.frontier.tokens.exponent == pytest.approx(1 - TRUE_PARAMS_EXPONENT, abs=0.02)
    low, high = fit.exponent_ci("params")
    assert low < TRUE_PARAMS_EXPONENT < high and high - low < 0.1
    true_params, true_tokens = CHINCHILLA.optimum(1e23)
    assert fit.optimum.params == pytest.approx(true_params, rel=0.15)
    assert fit.optimum.tokens == pytest.approx(true_tokens, rel=0.15)
    assert fit.law_optimum.loss == pytest.approx(float(CHINCHILLA.loss(true_params, true_tokens)), rel=0.01)


def test_the_law_optimum_at_six_n_d_is_hoffmanns_closed_form():
    """Eq. 4 of Hoffmann et al.: N_opt = G (C/6)^(beta/(alpha+beta)),
    G = (alpha A / beta B)^(1/(alpha+beta))."""
    law, flops = CHINCHILLA, 1e21
    g = (law.alpha * law.A / (law.beta * law.B)) ** (1 / (law.alpha + law.beta))
    closed_form = g * (flops / 6) ** (law.beta / (law.alpha + law.beta))
    params, tokens = law.optimum(flops)
    assert params == pytest.approx(closed_form, rel=1e-6)
    assert tokens == pytest.approx(flops / (6 * closed_form), rel=1e-6)


def test_the_law_optimum_spends_the_budget_as_the_points_did():
    """Points whose tokens cost 12N FLOPs (twice 6N, as small models' heads and attention make
    them): the fitted cost is 12 N^1, and the optimum at C is the 6ND optimum at C/2, not at C."""
    points = [
        ScalingPoint(p.params, p.tokens, 2 * p.flops, p.loss, 2 * p.budget, p.source)
        for p in ladder(np.logspace(18, 21, 4), noise=0.0)
    ]
    fit = fit_scaling(points, target_flops=2e22, samples=0)
    assert (fit.flops_per_token.coefficient, fit.flops_per_token.exponent) == pytest.approx((12, 1), rel=1e-6)
    true_params, true_tokens = CHINCHILLA.optimum(1e22)
    assert fit.law_optimum.params == pytest.approx(true_params, rel=0.01)
    assert fit.law_optimum.tokens == pytest.approx(true_tokens, rel=0.01)
    assert fit.law_optimum.loss == pytest.approx(float(CHINCHILLA.loss(true_params, true_tokens)), rel=1e-4)


def test_a_checked_run_is_set_against_the_law_and_the_frontier():
    """A run left out of the fit, at 10x the largest budget and a size off the optimum: the law
    predicts its loss, approach 2 the optimum at its compute."""
    flops = 1e22
    params = 2 * CHINCHILLA.optimum(flops)[0]
    tokens = flops / (6 * params)
    true_loss = float(CHINCHILLA.loss(params, tokens))
    run = ScalingPoint(params, tokens, flops, true_loss, flops, "the larger run")
    fit = fit_scaling(ladder(np.logspace(18, 21, 4), noise=0.0), samples=20, checks=[run])
    [check] = fit.checks
    assert (check.source, check.loss, check.params) == ("the larger run", true_loss, params)
    assert check.law_loss == pytest.approx(true_loss, rel=1e-3)
    assert check.optimum.flops == flops
    assert check.optimum.params == pytest.approx(CHINCHILLA.optimum(flops)[0], rel=0.05)
    low, high = check.optimum.params_ci
    assert low <= check.optimum.params <= high


def test_noise_free_points_give_the_law_exactly():
    law = fit_law(ladder(np.logspace(18, 21, 4), noise=0.0))
    assert (law.alpha, law.beta) == pytest.approx((0.34, 0.28), abs=1e-3)


def huber_objective(law: Law, points: list[ScalingPoint]) -> float:
    theta = np.log([law.A, law.B, law.E]).tolist() + [law.alpha, law.beta]
    log_n, log_d, log_loss = (np.log([getattr(p, k) for p in points]) for k in ("params", "tokens", "loss"))
    return float(objective(np.array(theta), log_n, log_d, log_loss)[0])


def test_steep_exponents_are_recovered_from_noise_free_points():
    """alpha and beta near 0.59: the grid's best starts led BFGS to a flat region that its
    default tolerance took for the minimum (E 0.60, alpha 0.003 for E 2.45, alpha 0.59)."""
    truth = Law(E=2.4508, A=39.744, B=135.79, alpha=0.5923, beta=0.5847)
    law = fit_law(synthetic_ladder(np.logspace(14, 17, 4), noise=0.0, law=truth))
    assert (law.E, law.alpha, law.beta, law.A, law.B) == pytest.approx(
        (truth.E, truth.alpha, truth.beta, truth.A, truth.B), rel=1e-2
    )


# Random laws (and the ladders' lowest budget) whose fit ended above the true law's objective.
HARD_LAWS = [
    (Law(E=1.631, A=9.039, B=1864.419, alpha=0.404, beta=0.883), 1e16),
    (Law(E=1.195, A=49.651, B=11.419, alpha=0.377, beta=0.858), 1e16),
    (Law(E=1.941, A=4368.07, B=4.71, alpha=0.444, beta=0.516), 4.6e18),
    (Law(E=1.065, A=3.366, B=495.942, alpha=0.272, beta=0.551), 4.1e18),
]


@pytest.mark.parametrize("noise", [0.0, 0.005])
@pytest.mark.parametrize(("truth", "lowest"), HARD_LAWS)
def test_the_fit_is_at_least_as_good_as_the_true_law(truth, lowest, noise):
    """Whatever the noise makes identifiable, the minimum found is no worse than the law that
    drew the points: anything above it is the search stopping short."""
    points = synthetic_ladder(lowest * np.logspace(0, 3, 4), noise=noise, law=truth)
    assert huber_objective(fit_law(points), points) <= huber_objective(truth, points) + 1e-12


def test_a_budget_with_two_sizes_is_refused_by_name():
    points = ladder([1e18], sizes_per_budget=3) + ladder([1e19], sizes_per_budget=2)
    with pytest.raises(ScalingError, match=r"budget 1e\+19 FLOPs has 2 model size\(s\).*at least 3"):
        fit_minima(points)


@pytest.mark.parametrize(
    ("scale", "needed"), [(1 / 30, "larger"), (30, "smaller")], ids=["optimum-above", "optimum-below"]
)
def test_a_minimum_at_the_edge_names_the_budget_and_the_sizes_it_needs(scale, needed):
    """Sizes all on one side of the optimum: the vertex falls outside them."""
    good = ladder([1e18])
    optimum, _ = CHINCHILLA.optimum(1e20)
    edge = [
        ScalingPoint(n, 1e20 / (6 * n), 1e20, float(CHINCHILLA.loss(n, 1e20 / (6 * n))), 1e20, "edge")
        for n in optimum * scale * np.geomspace(1 / 2, 2, 4)
    ]
    with pytest.raises(ScalingError, match=rf"budget 1e\+20 FLOPs .* train {needed} models"):
        fit_minima(good + edge)


def test_one_budget_is_refused_for_the_power_laws():
    with pytest.raises(ScalingError, match="1 budget: power laws across budgets need at least 2"):
        fit_frontier(fit_minima(ladder([1e18])))


def test_csv_points_without_flops_take_six_n_d(tmp_path):
    rows = [f"{p.params},{p.tokens},{p.loss}" for p in ladder([1e18], sizes_per_budget=3)]
    (tmp_path / "points.csv").write_text("\n".join(["params,tokens,loss", *rows]) + "\n")
    points = points_from_csv(tmp_path / "points.csv")
    assert [p.flops for p in points] == pytest.approx([1e18] * 3)
    assert {p.budget for p in points} == {1e18}


def test_the_csv_command_writes_the_law_and_the_optimum(tmp_path, capsys):
    write_points_csv(ladder(np.logspace(18, 20, 3), sizes_per_budget=7), tmp_path / "points.csv")
    scaling_main(["--csv", str(tmp_path / "points.csv"), "--target-flops", "1e22", "--bootstrap", "50"])
    result = json.loads((tmp_path / "scaling.json").read_text())
    assert set(result["law"]) == {"E", "A", "B", "alpha", "beta"}
    assert result["optimum"]["flops"] == 1e22 and len(result["optimum"]["params_ci"]) == 2
    assert [m["flops"] for m in result["minima"]] == [1e18, 1e19, 1e20]
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
    csv_kinds = [line.split(",")[0] for line in (tmp_path / "scaling.csv").read_text().splitlines()[1:]]
    assert csv_kinds.count("point") == 21 and csv_kinds.count("budget_minimum") == 3
    assert "At C = 1e+22" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("params,loss\n1,2\n", "lacks the column(s) tokens: its header must name params,tokens,loss"),
        ("params,tokens,loss\n1e6,2e7,abc\n", "line 2: loss='abc' is not a number"),
        ("params,tokens,loss\n-1e6,2e7,3\n", "line 2: params=-1e6 must be a positive number"),
        ("params,tokens,loss\n", "has no rows"),
    ],
)
def test_bad_csv_files_are_one_error_line_and_write_nothing(tmp_path, capsys, content, message):
    (tmp_path / "points.csv").write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        scaling_main(["--csv", str(tmp_path / "points.csv")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.csv"]


def test_an_unfittable_csv_is_refused_before_anything_is_written(tmp_path, capsys):
    write_points_csv(ladder([1e18, 1e19], sizes_per_budget=2), tmp_path / "points.csv")
    with pytest.raises(SystemExit):
        scaling_main(["--csv", str(tmp_path / "points.csv")])
    assert "error: budget 1e+18 FLOPs has 2 model size(s)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.csv"]
