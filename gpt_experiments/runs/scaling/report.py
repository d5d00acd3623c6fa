"""A scaling fit written out: ``scaling.json``, ``scaling.csv``, ``scaling.png`` and the console text."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # without pyplot: no display, no global figure state

from gpt_experiments.runs.scaling.fit import Check, Prediction, ScalingFit
from gpt_experiments.runs.scaling.points import budget_key, by_budget

JSON_NAME, CSV_NAME, PLOT_NAME = "scaling.json", "scaling.csv", "scaling.png"
CSV_FIELDS = (
    "kind",
    "flops",
    "params",
    "tokens",
    "loss",
    "params_ci_low",
    "params_ci_high",
    "predicted_loss",
    "source",
)


def prediction_dict(prediction: Prediction | None) -> dict | None:
    return None if prediction is None else asdict(prediction)


def result_dict(fit: ScalingFit) -> dict:
    """What scaling.json holds: the law, the optimum, the budgets' minima and the intervals."""
    power_laws = {
        name: {**asdict(getattr(fit.frontier, name)), "exponent_ci": fit.exponent_ci(name)}
        for name in ("params", "tokens", "loss")
    }
    return {
        "law": None if fit.law is None else asdict(fit.law),
        "law_note": fit.law_note,
        "optimum": prediction_dict(fit.optimum),
        "law_optimum": prediction_dict(fit.law_optimum),
        "power_laws": power_laws,
        "flops_per_token": asdict(fit.flops_per_token),
        "minima": [asdict(minimum) for minimum in fit.minima],
        "checks": [asdict(check) for check in fit.checks],
        "points": len(fit.points),
        "bootstrap": {"samples": len(fit.bootstrap.frontiers), "dropped": fit.bootstrap.dropped},
    }


def write_json(fit: ScalingFit, path: Path) -> None:
    path.write_text(json.dumps(result_dict(fit), indent=1) + "\n")


def write_csv(fit: ScalingFit, path: Path) -> None:
    """One row per point, per budget minimum, and the prediction(s)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, restval="")
        writer.writeheader()
        for point in fit.points:
            row = {"kind": "point", "flops": point.flops, "params": point.params, "tokens": point.tokens}
            writer.writerow({**row, "loss": point.loss, "source": point.source})
        for m in fit.minima:
            writer.writerow(
                {
                    "kind": "budget_minimum",
                    "flops": m.flops,
                    "params": m.params,
                    "tokens": m.tokens,
                    "loss": m.loss,
                }
            )
        for kind, prediction in (("optimum", fit.optimum), ("law_optimum", fit.law_optimum)):
            if prediction is None:
                continue
            low, high = prediction.params_ci or ("", "")
            row = {
                "kind": kind,
                "flops": prediction.flops,
                "params": prediction.params,
                "tokens": prediction.tokens,
            }
            writer.writerow({**row, "loss": prediction.loss, "params_ci_low": low, "params_ci_high": high})
        for check in fit.checks:
            row = {"kind": "check", "flops": check.flops, "params": check.params, "tokens": check.tokens}
            predicted = "" if check.law_loss is None else check.law_loss
            writer.writerow({**row, "loss": check.loss, "predicted_loss": predicted, "source": check.source})


def scaling_figure(fit: ScalingFit) -> Figure:
    """Left: each budget's losses against N, its parabola and minimum. Right: N*(C) with its
    95% band through the minima, and the prediction."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    curves, frontier = figure.subplots(1, 2)
    for (budget, group), minimum in zip(by_budget(fit.points).items(), fit.minima, strict=True):
        sizes = np.array([p.params for p in group])
        line = curves.plot(sizes, [p.loss for p in group], "o", label=f"C = {budget:.2g}")[0]
        grid = np.geomspace(sizes.min(), sizes.max(), 100)
        curves.plot(grid, np.polyval(minimum.parabola, np.log(grid)), color=line.get_color())
        curves.plot(
            minimum.params, minimum.loss, "*", markersize=14, color=line.get_color(), markeredgecolor="k"
        )
    draw_checks(curves, fit.checks)
    curves.set(
        xscale="log",
        xlabel="non-embedding parameters N",
        ylabel="final validation loss",
        title="IsoFLOP curves (stars: minima)",
    )
    curves.legend(fontsize=8)
    flops = np.array([m.flops for m in fit.minima] + [fit.optimum.flops])
    grid = np.geomspace(flops.min() / 1.5, flops.max() * 1.5, 100)
    frontier.plot(
        [m.flops for m in fit.minima],
        [m.params for m in fit.minima],
        "*",
        markersize=12,
        color="k",
        label="budget minima",
    )
    frontier.plot(grid, fit.frontier.params(grid), label=f"N* ∝ C^{fit.frontier.params.exponent:.2f}")
    if fit.bootstrap.frontiers:
        draws = np.array([f.params(grid) for f in fit.bootstrap.frontiers])
        low, high = np.percentile(draws, [2.5, 97.5], axis=0)
        frontier.fill_between(grid, low, high, alpha=0.25, label="95% bootstrap band")
    frontier.plot(
        fit.optimum.flops,
        fit.optimum.params,
        "X",
        markersize=12,
        color="C3",
        label=f"prediction at C = {fit.optimum.flops:.2g}: N = {fit.optimum.params:.3g}",
    )
    frontier.set(
        xscale="log", yscale="log", xlabel="training FLOPs C", ylabel="compute-optimal N*", title="Frontier"
    )
    frontier.legend(fontsize=8)
    return figure


def draw_checks(curves: Axes, checks: list[Check]) -> None:
    """The checked runs' measured losses (diamonds) and, per budget among them, approach 2's
    predicted optimum there (a cross with its loss interval): prediction against measurement."""
    if not checks:
        return
    curves.plot(
        [c.params for c in checks],
        [c.loss for c in checks],
        "D",
        color="k",
        markerfacecolor="none",
        label="checked runs",
    )
    for optimum in {budget_key(c.flops): c.optimum for c in checks}.values():
        low, high = optimum.loss_ci or (optimum.loss, optimum.loss)
        curves.errorbar(
            optimum.params,
            optimum.loss,
            yerr=[[optimum.loss - low], [high - optimum.loss]],
            fmt="X",
            markersize=10,
            color="C3",
            label=f"predicted at C = {optimum.flops:.2g}",
        )


def interval(ci: tuple[float, float] | None, spec: str) -> str:
    return "" if ci is None else f" [{ci[0]:{spec}}, {ci[1]:{spec}}]"


def format_fit(fit: ScalingFit) -> str:
    lines = [f"{'budget C':>10}  {'sizes':>5}  {'N*':>10}  {'D*':>10}  {'loss*':>7}"]
    for m in fit.minima:
        lines.append(f"{m.flops:>10.3g}  {m.sizes:>5}  {m.params:>10.4g}  {m.tokens:>10.4g}  {m.loss:>7.4f}")
    lines.append("Power laws through the minima (95% bootstrap interval of the exponent):")
    for name, symbol in (("params", "N*"), ("tokens", "D*"), ("loss", "L*")):
        law = getattr(fit.frontier, name)
        ci = interval(fit.exponent_ci(name), ".3f")
        lines.append(f"  {symbol} = {law.coefficient:.4g} C^{law.exponent:.3f}{ci}")
    if fit.law is not None:
        law = fit.law
        terms = f"{law.E:.4g} + {law.A:.4g}/N^{law.alpha:.3f} + {law.B:.4g}/D^{law.beta:.3f}"
        lines.append(f"Law (approach 3): L = {terms}")
    else:
        lines.append(f"Law (approach 3): not fitted: {fit.law_note}")
    o = fit.optimum
    lines.append(
        f"At C = {o.flops:.3g}: N = {o.params:.4g}{interval(o.params_ci, '.4g')}, "
        f"D = {o.tokens:.4g}{interval(o.tokens_ci, '.4g')}, "
        f"loss {o.loss:.4f}{interval(o.loss_ci, '.4f')} (approach 2)"
    )
    if fit.law_optimum is not None:
        lo = fit.law_optimum
        lines.append(
            f"At C = {lo.flops:.3g}: N = {lo.params:.4g}, D = {lo.tokens:.4g}, "
            f"loss {lo.loss:.4f} (approach 3)"
        )
    lines.extend(format_check(check) for check in fit.checks)
    return "\n".join(lines)


def format_check(check: Check) -> str:
    o = check.optimum
    law = "" if check.law_loss is None else f", the law's L(N, D) {check.law_loss:.4f}"
    return (
        f"Checked {check.source}: C = {check.flops:.3g}, N = {check.params:.4g}, D = {check.tokens:.4g}: "
        f"measured loss {check.loss:.4f}{law}; approach 2 at this C: N* = {o.params:.4g}"
        f"{interval(o.params_ci, '.4g')}, loss* {o.loss:.4f}{interval(o.loss_ci, '.4f')}"
    )


def write_report(fit: ScalingFit, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / JSON_NAME, out_dir / CSV_NAME, out_dir / PLOT_NAME]
    write_json(fit, paths[0])
    write_csv(fit, paths[1])
    scaling_figure(fit).savefig(paths[2], dpi=120)
    return paths
