"""Mistakes in the arguments of the argparse commands: one ``error:`` line, no usage block."""

from __future__ import annotations

import importlib
import sys

import pytest

from gpt_experiments.cli.arguments import first_paragraph

# (module, argv, what the one line says): wrong types, zero and negative numbers, nan and
# inf, missing and unknown arguments.
MISTAKES = [
    ("gpt_experiments.cli.convert", ["a", "b"], "the following arguments are required: --to"),
    ("gpt_experiments.cli.convert", ["a", "b", "--to", "onnx"], "argument --to: invalid choice: 'onnx'"),
    ("gpt_experiments.cli.consolidate", ["x"], "the following arguments are required: output"),
    ("gpt_experiments.cli.download", ["7B"], "argument what: invalid choice: '7B'"),
    ("gpt_experiments.cli.compare", [], "the following arguments are required: folder"),
    ("gpt_experiments.cli.compare", ["x", "--bogus"], "unrecognized arguments: --bogus"),
    ("gpt_experiments.cli.scaling", [], "pass sweep folders or --csv FILE (one of the two)"),
    ("gpt_experiments.cli.scaling", ["x", "--bootstrap", "-1"], "-1 is not 0 or a positive integer"),
    ("gpt_experiments.cli.scaling", ["x", "--bootstrap", "abc"], "invalid non_negative_int value: 'abc'"),
    ("gpt_experiments.cli.scaling", ["x", "--target-flops", "inf"], "inf is not a positive finite number"),
    ("gpt_experiments.cli.scaling", ["x", "--target-flops", "nan"], "nan is not a positive finite number"),
    ("gpt_experiments.cli.scaling", ["x", "--target-flops", "0"], "0 is not a positive finite number"),
    # An empty path (an unset shell variable) named the current folder: convert read whatever
    # checkpoint it found there.
    ("gpt_experiments.cli.convert", ["", "o.ckpt", "--to", "project"], "argument source: an empty path"),
    ("gpt_experiments.cli.convert", ["a", " ", "--to", "project"], "argument dest: an empty path"),
    ("gpt_experiments.cli.consolidate", ["", "o.ckpt"], "argument sharded: an empty path"),
    ("gpt_experiments.cli.compare", [""], "argument folder: an empty path"),
    ("gpt_experiments.cli.scaling", ["--csv", ""], "argument --csv: an empty path"),
    ("gpt_experiments.cli.download", ["124M", "--dest", ""], "argument --dest: an empty path"),
    ("benchmarks.repro_seeds", ["--steps", "0"], "argument --steps: 0 is not a positive integer"),
    ("benchmarks.chapter_repro", ["--out", "x", "--epochs", "0"], "0 is not a positive integer"),
    ("benchmarks.benchmark_generation", ["--repeats", "0"], "--repeats: 0 is not a positive integer"),
    ("benchmarks.benchmark_generation", ["--new-tokens", "-5"], "-5 is not a positive integer"),
    ("benchmarks.benchmark", ["--steps", "0"], "argument --steps: 0 is not a positive integer"),
    ("benchmarks.benchmark", ["--batch-size", "two"], "invalid positive_int value: 'two'"),
    ("benchmarks.benchmark", ["--warmup", "-1"], "-1 is not 0 or a positive integer"),
    ("benchmarks.benchmark", ["--corpus-mb", "-1"], "-1 is not a positive finite number"),
]


@pytest.mark.parametrize(("module", "argv", "message"), MISTAKES)
def test_an_argument_mistake_is_one_error_line(monkeypatch, capsys, module, argv, message):
    command = importlib.import_module(module)
    prog = module.rsplit(".", 1)[-1] + ".py"
    monkeypatch.setattr(sys, "argv", [prog, *argv])  # as run from the command line
    with pytest.raises(SystemExit) as exited:
        command.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith(f": see {prog} --help\n")
    assert message in err and err.count("\n") == 1


COMMANDS = ["convert", "consolidate", "download", "compare", "scaling"]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_gives_the_whole_first_paragraph_of_the_commands_description(capsys, name):
    command = importlib.import_module(f"gpt_experiments.cli.{name}")
    with pytest.raises(SystemExit) as exited:
        command.main(["--help"])
    assert exited.value.code == 0
    # consolidate's and compare's help used to stop at their docstring's first line, mid-sentence.
    assert first_paragraph(command.__doc__) in " ".join(capsys.readouterr().out.split())


def test_compare_help_says_what_it_writes(capsys):
    with pytest.raises(SystemExit):
        importlib.import_module("gpt_experiments.cli.compare").main(["--help"])
    assert "writes comparison.csv and comparison.png" in " ".join(capsys.readouterr().out.split())
