"""TensorFlow loads only when an OpenAI checkpoint is actually read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What training with `init=...` imports, and both scripts of this package.
CHECK = """
import runpy, sys
import lightning, gpt_experiments.convert.formats, gpt_experiments.convert.download
import gpt_experiments.training.callbacks.pretrained_init
runpy.run_path("scripts/convert_checkpoint.py", run_name="imported")
runpy.run_path("scripts/download_gpt2.py", run_name="imported")
print("tensorflow" in sys.modules)
"""


@pytest.mark.slow  # a fresh interpreter importing Lightning takes about 8 s
def test_conversion_and_training_imports_leave_out_tensorflow():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
