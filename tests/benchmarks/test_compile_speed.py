"""The compile section's verdict: does compiling pay over a run of a given length?"""

import pytest

from benchmarks.compile_speed import quick_start


def test_compiling_pays_only_once_the_saved_step_time_exceeds_the_compile_time():
    # 1.0 s eager, 0.8 s compiled: 0.2 s saved a step pays back 30 s of compiling after 150 steps.
    short = quick_start(eager_s=1.0, compiled_s=0.8, compile_s=30.0, run_steps=90)
    assert short["eager_s"] == 90.0 and short["compiled_s"] == pytest.approx(30.0 + 72.0)
    assert not short["compile_pays"] and short["break_even_steps"] == pytest.approx(150.0)
    assert quick_start(1.0, 0.8, 30.0, run_steps=200)["compile_pays"]


def test_a_compiled_step_no_faster_never_breaks_even():
    assert quick_start(1.0, 1.1, 30.0, run_steps=10_000)["break_even_steps"] is None
