"""How `make test` spreads the suite over pytest-xdist workers (``-n auto --dist loadgroup``).

Tests marked with one ``xdist_group`` share an expensive fixture (the two-process reference run
of tests/training/test_resume_devices.py): if the group were split, each worker would train it
again and both would start multi-process runs at once. pytest-xdist does not fail when the
grouping stops working (it did with pytest 9.2), so this checks it.
"""

from __future__ import annotations

import os
import subprocess
import sys

GROUPED_TESTS = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("case", range(6))
def test_case(case):
    (Path(os.environ["GROUPED_OUT"]) / f"worker_of_{case}").write_text(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_an_xdist_group_runs_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    # Only xdist: the other installed plugins (hypothesis, Hydra's, ...) just slow the start.
    env |= {"GROUPED_OUT": str(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = ["-p", "xdist", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *command, "test_grouped.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    workers = {(tmp_path / f"worker_of_{case}").read_text() for case in range(6)}
    assert len(workers) == 1, f"the group was split over workers {sorted(workers)}"
