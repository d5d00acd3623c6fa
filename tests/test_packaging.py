"""What `pip install .` ships: the package, its assets and config groups, not the benchmarks or tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
from lightning.pytorch.callbacks import RichProgressBar

from gpt_experiments.training.callbacks.progress import RunProgressBar
from tests.helpers import ROOT


@pytest.mark.slow
def test_wheel_holds_the_package_and_its_configs_and_no_benchmark_code(tmp_path):
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
    configs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "conf").rglob("*.yaml"))
    assert sorted(name for name in names if "/conf/" in name) == [f"gpt_experiments/{c}" for c in configs]

    # Installed from the wheel, away from any checkout, the train command finds its configs.
    installed = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", installed, wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )

    def run_installed(code: str, *args: str) -> subprocess.CompletedProcess:
        """``python -c code args`` seeing only the installed package, from a folder outside any checkout."""
        env = {**os.environ, "PYTHONPATH": str(installed)}
        command = [sys.executable, "-c", code, *args]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    gpt_train = "import sys; from gpt_experiments.cli.train import main; sys.argv[0] = 'gpt-train'; main()"
    assert (
        "emb_dim: 24" in run_installed(gpt_train, "--cfg", "job", "model=tiny").stdout
    )  # conf/model/tiny.yaml
    where = run_installed("import gpt_experiments.config as c; print(c.CONF_DIR)")
    assert where.stdout.strip() == str(installed / "gpt_experiments" / "conf")

    # No checkout to read a commit from: provenance.json records the installed version.
    start = "import json, sys; from gpt_experiments.run_folder import provenance as p; "
    start += "print(json.dumps([str(p.PACKAGE_ROOT), p.record_start(sys.argv[1])['code']]))"
    recorded = run_installed(start, str(tmp_path / "run"))
    wheel_version = wheel.name.split("-")[1]
    assert json.loads(recorded.stdout) == [
        str(installed),
        {"git": "not a git checkout", "package_version": wheel_version},
    ]


def test_the_progress_bars_library_is_a_base_dependency():
    """`make train` installs the base dependencies only: Lightning builds its rich bar with
    `rich`, which Lightning itself does not require."""
    assert issubclass(RunProgressBar, RichProgressBar)
    # [project] dependencies: the list before the first "]" (a plain text read works on 3.10 too).
    base = (ROOT / "pyproject.toml").read_text().split("\ndependencies = [", 1)[1].split("]", 1)[0]
    assert re.search(r'^\s*"rich[<>=~ ]', base, re.MULTILINE)
