"""What `pip install .` ships: the package and its assets, not the benchmarks or tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_wheel_holds_the_package_and_no_benchmark_code(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path,
            ROOT,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("gpt_experiments-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "gpt_experiments/cli/train.py" in names
    assert "gpt_experiments/assets/gpt2.tiktoken" in names
    assert not [name for name in names if "benchmark" in name or name.startswith("tests/")]
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "gpt-train = gpt_experiments.cli.train:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
