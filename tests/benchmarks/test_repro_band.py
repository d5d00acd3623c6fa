"""The README's reproduction band holds for a real default-seed run of ``experiment=verdict_repro``.

A real run trains GPT-2 124M for 90 steps: minutes on a quiet 2-core CPU, far past a test's
budget. So this checks the ``history.csv`` of such a run, committed after it was measured
(``docs/reproduction.md`` says how). It fails when that run ended outside the band the README
states, or when the README's band is changed without the run.
"""

from __future__ import annotations

import re

import pytest

from gpt_experiments.runs.records import read_history
from tests.helpers import ROOT

REFERENCE_RUN = ROOT / "tests" / "fixtures" / "verdict_repro_seed123"
BAND = re.compile(r"expected band \(train < (?P<train>[\d.]+), val (?P<low>[\d.]+)-(?P<high>[\d.]+)\)")


def readme_band() -> tuple[float, float, float]:
    match = BAND.search((ROOT / "README.md").read_text())
    assert match, "README.md no longer states 'expected band (train < X, val A-B)'"
    return float(match["train"]), float(match["low"]), float(match["high"])


@pytest.mark.skipif(
    not (REFERENCE_RUN / "history.csv").is_file(),
    reason=f"no measured run yet: copy a default-seed run's history.csv to {REFERENCE_RUN}"
    " (docs/reproduction.md, 'After the run')",
)
def test_the_default_seed_repro_ends_inside_the_readme_band():
    last = read_history(REFERENCE_RUN)[-1]
    train_max, val_low, val_high = readme_band()
    assert last["step"] == 90, "the committed history.csv is not a complete 90-step run"
    assert last["train_loss"] < train_max, f"train loss {last['train_loss']:.3f} at step 90"
    assert val_low <= last["val_loss"] <= val_high, f"val loss {last['val_loss']:.3f} at step 90"


def test_the_readme_states_a_band():
    train_max, val_low, val_high = readme_band()
    assert train_max > 0 and val_low < val_high
