"""The one-command GPU check, run on the CPU with a tiny model: its arithmetic, its JSON, and the
scripts/train.py run it makes, so a GPU's first minutes go to measuring, not debugging."""

import json

import pytest
import torch

from benchmarks.gpu_check import loss_agreement, main, model_flops_utilization
from gpt_experiments.training.peak_flops import datasheet_peak_flops


def test_mfu_is_model_flops_per_second_over_the_dense_peak():
    # GPT-2 small at context 1024: about 8.5e8 FLOPs per token; 100k tokens/s on an H100 SXM.
    peak = datasheet_peak_flops("NVIDIA H100 80GB HBM3", torch.bfloat16)
    assert peak == 989.4e12
    assert model_flops_utilization(100_000, 850_000_000, peak) == pytest.approx(8.5e13 / 989.4e12)
    assert model_flops_utilization(100_000, 850_000_000, None) is None  # a device without a datasheet


def test_losses_agree_only_within_the_tolerance():
    close = loss_agreement({"cpu_fp32": 10.90, "eager_bf16": 10.93, "compiled_bf16": 10.88}, "cpu_fp32", 0.05)
    assert close["agree"] and close["difference_from_cpu_fp32"]["eager_bf16"] == pytest.approx(0.03)
    assert not loss_agreement({"cpu_fp32": 10.9, "compiled_bf16": 11.0}, "cpu_fp32", 0.05)["agree"]
    assert not loss_agreement({"cpu_fp32": 10.9, "compiled_bf16": float("nan")}, "cpu_fp32", 0.05)["agree"]


@pytest.mark.slow
def test_tiny_cpu_check_measures_every_part_and_writes_one_json(tmp_path, capsys):
    out = tmp_path / "check.json"
    args = ["--device", "cpu", "--tiny", "--warmup", "1", "--steps", "2", "--new-tokens", "8"]
    report = main(
        [*args, "--peak-flops", "1e12", "--script-devices", "1", "--script-steps", "12", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out) == report
    assert report["device"] == "cpu" and report["model"]["context_length"] == 64
    assert report["loss"]["agree"] and set(report["loss"]["losses"]) == {
        "cpu_fp32",
        "eager_bf16",
        "compiled_bf16",
    }
    for name in ("eager", "compiled"):
        figures = report["train"][name]
        assert figures["tokens_per_sec"] == pytest.approx(8 * 64 / figures["step_s"])
        expected_mfu = figures["tokens_per_sec"] * report["flops_per_token"] / 1e12
        assert figures["mfu"] == pytest.approx(expected_mfu) and figures["peak_memory_mb"] > 0
    assert report["train"]["compiled"]["compile_s"] > report["train"]["eager"]["compile_s"]
    assert report["generate"]["tokens_per_sec"] > 0
    script = report["train_script"]
    assert script["strategy"] == "FSDP2Strategy" and script["steps"] == 12 and script["loss_fell"]
