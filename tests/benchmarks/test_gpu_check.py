"""The one-command GPU check, run on the CPU with a tiny model (--smoke): its JSON report."""

import pytest

from benchmarks.gpu_check import main


@pytest.mark.slow
def test_smoke_run_reports_speed_mfu_and_a_falling_loss(capsys):
    report = main(["--smoke", "--devices", "1", "--steps", "20"])
    assert report["strategy"] == "FSDP2Strategy" and report["devices"] == 1 and report["steps"] == 20
    assert report["tokens_per_sec"] > 0 and report["peak_memory_mb"] > 0
    assert 0 < report["mfu"] < 1  # against the 1 TFLOP/s the smoke run declares
    assert report["loss_fell"]
    assert '"tokens_per_sec"' in capsys.readouterr().out
