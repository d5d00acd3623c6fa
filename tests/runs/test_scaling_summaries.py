"""scaling.py on run folders: a summary.json holding a NaN loss, text or a missing value; runs
named twice; an --out that is a file."""

import json
from pathlib import Path

import pytest

from gpt_experiments.cli.scaling import main as scaling_main
from gpt_experiments.runs.scaling.synthetic import synthetic_ladder


def write_ladder(root: Path, edit: dict) -> None:
    """One finished run folder per point of a fittable ladder; the first run's summary edited."""
    for i, point in enumerate(synthetic_ladder([1e18, 1e19, 1e20], sizes_per_budget=5, noise=0.0)):
        run = root / f"run{i}"
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "config.yaml").write_text(f"max_flops: {point.flops}\n")
        (run / ".hydra" / "overrides.yaml").write_text(f"- max_flops={point.flops}\n")
        summary = {
            "max_steps": 10,
            "steps": 10,
            "final_val_step": 10,
            "final_val_loss": point.loss,
            "non_embedding_params": point.params,
            "train_flops": point.flops,
            "tokens_seen": point.tokens,
        }
        (run / "summary.json").write_text(json.dumps({**summary, **(edit if i == 0 else {})}))


# Each used to reach the fit: a NaN or infinite loss as a misleading "minimum not inside" the
# sizes, text as a ValueError or TypeError traceback, a missing value as a KeyError.
EDITS = {
    "nan loss": ({"final_val_loss": float("nan")}, "final_val_loss=nan must be a positive number"),
    "inf loss": ({"final_val_loss": float("inf")}, "final_val_loss=inf must be a positive number"),
    "loss as text": ({"final_val_loss": "4.5"}, 'final_val_loss="4.5" is not a number'),
    "negative tokens": ({"tokens_seen": -5}, "tokens_seen=-5 must be a positive number"),
    "no tokens": ({"tokens_seen": None}, "tokens_seen=null is not a number"),
    "size as bool": ({"non_embedding_params": True}, "non_embedding_params=true is not a number"),
    "steps as text": ({"steps": "10"}, "has steps='10', not whole numbers"),
}


def test_the_ladder_fits_unedited(tmp_path, capsys):
    write_ladder(tmp_path, {})
    scaling_main([str(tmp_path), "--bootstrap", "0"])
    assert "15 points in 3 budgets" in capsys.readouterr().out


@pytest.mark.parametrize("edit, message", EDITS.values(), ids=EDITS)
def test_a_bad_value_in_a_runs_summary_is_one_line_naming_it(tmp_path, capsys, edit, message):
    write_ladder(tmp_path, edit)
    with pytest.raises(SystemExit) as exited:
        scaling_main([str(tmp_path), "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.count("\n") == 1, err
    assert err.startswith("error: ") and "run0" in err and message in err
    assert not list(tmp_path.glob("scaling.*"))


def write_points(path: Path) -> Path:
    rows = synthetic_ladder([1e18, 1e19, 1e20], sizes_per_budget=5, noise=0.0)
    path.write_text("params,tokens,loss\n" + "".join(f"{p.params},{p.tokens},{p.loss}\n" for p in rows))
    return path


# A folder given twice was fitted with every point counted twice; a --check run that the fit
# also used was "checked" against a law fitted to itself.
NAMED_TWICE = {
    "a folder twice": lambda ladder, csv: [str(ladder), f"{ladder}/."],
    "a check run inside the fit": lambda ladder, csv: [str(ladder), "--check", f"{ladder}/run3"],
    "a check run twice": lambda ladder, csv: ["--csv", str(csv), *["--check", f"{ladder}/run3"] * 2],
}


@pytest.mark.parametrize("argv", NAMED_TWICE.values(), ids=NAMED_TWICE)
def test_a_run_named_twice_is_refused(tmp_path, capsys, argv):
    write_ladder(tmp_path / "ladder", {})
    csv = write_points(tmp_path / "points.csv")
    with pytest.raises(SystemExit) as exited:
        scaling_main([*argv(tmp_path / "ladder", csv), "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.count("\n") == 1
    assert "is named twice" in err and not list(tmp_path.rglob("scaling.*"))


def test_an_out_that_is_a_file_is_refused_before_the_fit(tmp_path, capsys):
    write_ladder(tmp_path, {})
    (tmp_path / "note.txt").write_text("mine")
    with pytest.raises(SystemExit):
        scaling_main([str(tmp_path), "--bootstrap", "0", "--out", str(tmp_path / "note.txt")])
    captured = capsys.readouterr()
    # It used to print the whole fit, then "error: note.txt: File exists".
    assert captured.out == "" and captured.err.endswith(
        "note.txt is a file: pass --out a folder to write scaling.json, .csv and .png into\n"
    )
    assert (tmp_path / "note.txt").read_text() == "mine"
