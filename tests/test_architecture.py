"""The package's imports go one way (the layers in pyproject.toml's import-linter contract,
drawn in docs/architecture.md): the contract holds, and an upward import breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter over the package under ``root``, with its pyproject.toml's contract."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "gpt_experiments", tmp_path / "gpt_experiments")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    model = tmp_path / "gpt_experiments" / "model.py"
    # The model (a lower layer) reaching up into training: what the contract exists to refuse.
    model.write_text(model.read_text() + "\nfrom gpt_experiments.training import lit_module  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "gpt_experiments.model -> gpt_experiments.training.lit_module" in result.stdout
