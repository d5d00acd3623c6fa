"""Commands load only what they need: a mistyped override is reported before torch and
Lightning load (seconds of imports), a wrong checkpoint before Lightning, and only training
imports Lightning."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.helpers import ROOT, script_env

# A command as a user runs it, then which libraries it had loaded when it stopped.
CHECK = """
import runpy, sys
script = sys.argv[1]
sys.argv = [script, *sys.argv[2:]]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    print(sorted(name for name in ("torch", "lightning") if name in sys.modules))
"""


def loaded_libraries(script: str, argv: list[str], cwd) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run scripts/``script`` as a user would; returns the result and which of torch and
    Lightning it had imported when it stopped (the last line CHECK prints)."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(ROOT / "scripts" / script), *argv],
        cwd=cwd,
        env=script_env(cwd),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, ast.literal_eval(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trainer.max_epoch=3"], "unknown config key 'trainer.max_epoch' (did you mean"),
        (["model=gpt3"], "unknown option 'model=gpt3' for group model; available: gpt2_large, "),
        (["-m", "optimizer.lr=1e-4,2e-4", "model=tiny,gpt3"], "unknown option 'model=gpt3' for group model"),
    ],
    ids=["unknown key", "unknown group option", "unknown option in a sweep"],
)
def test_hydra_level_mistakes_are_reported_before_torch_loads(argv, message, tmp_path):
    result, loaded = loaded_libraries("train.py", argv, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: {message}"), result.stderr
    assert loaded == []  # neither torch nor Lightning was imported


def test_a_wrong_checkpoint_is_reported_before_lightning_loads(tmp_path):
    """The checkpoint is checked with torch alone: Lightning (seconds) loads only once it passes."""
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    result, loaded = loaded_libraries("train.py", ["model=tiny", "ckpt_path=notes.txt"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: notes.txt is not a checkpoint file"), result.stderr
    assert loaded == ["torch"]


def test_preparing_data_leaves_lightning_out(tmp_path):
    """Tokenizing a corpus into shards needs neither Lightning nor a model (seconds of imports)."""
    result, loaded = loaded_libraries("prepare_data.py", ["data=verdict", "out_dir=out"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lightning" not in loaded
    assert any((tmp_path / "out").iterdir())  # it did write the shards


def test_generate_and_evaluate_leave_lightning_out(tmp_path):
    """Inference needs torch, not Lightning (seconds of imports), also to score a data split."""
    check = (
        "import sys, gpt_experiments.cli.generate, gpt_experiments.cli.evaluate\n"
        "print('lightning' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
