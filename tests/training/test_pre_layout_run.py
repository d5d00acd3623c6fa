"""A run folder written by the flat-layout code (before the package split) still works.

tests/fixtures/pre_layout_run/ (see its README.md) names the old module paths in its
``_target_`` strings and the old ``scheduler.name`` form, in its saved config and in its
checkpoint's hyperparameters.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from gpt_experiments.inference.loading import load_inference_model
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.legacy import RENAMED_TARGETS, SCHEDULER_NAMES, upgrade_scheduler
from gpt_experiments.tokenizer import encode
from gpt_experiments.training.compose import compose_config
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.resume import (
    config_fingerprint,
    differing_settings,
    in_shape_of,
    plan_resume,
    run_of_same_command,
    saved_config,
)
from tests.conftest import CONF_DIR
from tests.helpers import run_script

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pre_layout_run"


def saved_overrides() -> list[str]:
    return list(OmegaConf.load(FIXTURE / ".hydra" / "overrides.yaml"))


def copy_into_log_dir(tmp_path: Path) -> Path:
    """The fixture as a run folder under ``tmp_path/outputs``, where resume=auto looks."""
    run_dir = tmp_path / "outputs" / "runs" / "2026-01-01" / "12-00-00_000000"
    shutil.copytree(FIXTURE, run_dir)
    return run_dir


def test_old_checkpoint_generates_the_tokens_it_generated_before_the_split():
    expected = json.loads((FIXTURE / "expected_greedy.json").read_text())
    model = load_inference_model(str(FIXTURE / "checkpoints" / "last.ckpt"), device="cpu", precision="fp32")
    greedy = SamplerConfig(max_new_tokens=expected["max_new_tokens"], temperature=0.0)
    assert generate(model, [encode(expected["prompt"])], greedy) == [expected["greedy_tokens"]]


def test_every_renamed_target_and_schedule_exists_today():
    for new in [*RENAMED_TARGETS.values(), *SCHEDULER_NAMES.values()]:
        assert callable(get_object(new))


def test_old_scheduler_hyperparameters_are_read_in_todays_form():
    saved = torch.load(FIXTURE / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert saved["scheduler"] == {"name": "constant"}  # what the old code wrote
    module = GPTLitModule(model=saved["model"], optimizer=saved["optimizer"], scheduler=saved["scheduler"])
    assert module.hparams.scheduler == {"_target_": "gpt_experiments.training.schedules.constant_schedule"}
    assert upgrade_scheduler({"name": "warmup_cosine", "warmup_steps": 5}) == {
        "_target_": "gpt_experiments.training.schedules.warmup_cosine_schedule",
        "warmup_steps": 5,
    }


def rebuild(overrides: list[str]) -> DictConfig:
    return compose_config(CONF_DIR, "train", overrides)


def compose_today(tmp_path: Path, *extra: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*saved_overrides(), f"paths.log_dir={tmp_path}/outputs", *extra])


# Defaults changed since the fixture was written (bf16 where the CPU has it, one eval batch).
OLD_DEFAULTS = ["trainer.precision=32-true", "data.eval_train_batches=5"]


def test_resume_auto_finds_the_old_run_of_the_same_config(tmp_path):
    run_dir = copy_into_log_dir(tmp_path)
    old = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    today = compose_today(tmp_path, *OLD_DEFAULTS)
    # The saved config names the old modules and lacks settings added since (data.split, ...);
    # the fingerprint reads it in today's names and shape.
    assert old.callbacks.text_samples._target_ != today.callbacks.text_samples._target_
    assert "split" not in old.data
    assert config_fingerprint(saved_config(run_dir, rebuild)) == config_fingerprint(today)
    assert config_fingerprint(saved_config(run_dir)) != config_fingerprint(today)
    plan = plan_resume("auto", today, rebuild)
    assert plan is not None and plan.run_dir == run_dir
    assert plan.checkpoint == run_dir / "checkpoints" / "last.ckpt"


def test_resume_auto_names_an_old_run_whose_defaults_changed(tmp_path):
    """Same command line, other defaults: not resumed silently, but named with what differs."""
    run_dir = copy_into_log_dir(tmp_path)
    today = compose_today(tmp_path)
    assert plan_resume("auto", today, rebuild) is None
    assert run_of_same_command(tmp_path / "outputs", [*saved_overrides(), "resume=auto"]) == run_dir
    changed = differing_settings(saved_config(run_dir, rebuild), today)
    assert "data.eval_train_batches" in changed and "trainer.precision" in changed
    assert not [key for key in changed if key.endswith("_target_")]  # old names are not differences


@pytest.mark.slow
def test_resume_continues_the_old_run_in_its_folder_with_todays_config(tmp_path):
    run_dir = copy_into_log_dir(tmp_path)
    old_rows = list(csv.DictReader((run_dir / "history.csv").open()))
    result = run_script("train.py", f"resume={run_dir}", "trainer.max_steps=9", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    assert [p.parent for p in (tmp_path / "outputs").glob("**/.hydra")] == [run_dir]  # no new run folder
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    # The old rows keep their values; the column added since (train_flops) is blank for them.
    kept = [{key: row[key] for key in old_rows[0]} for row in rows[: len(old_rows)]]
    assert kept == old_rows and all(row["train_flops"] == "" for row in rows[: len(old_rows)])
    assert [r["step"] for r in rows[len(old_rows) :]] == ["9"]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 9
    assert checkpoint["hyper_parameters"]["scheduler"]["_target_"].endswith(".constant_schedule")
    # The callbacks were built from today's config, under today's module paths.
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.callbacks.text_samples._target_ == "gpt_experiments.training.callbacks.samples.TextSamples"


def test_a_saved_config_takes_todays_shape_and_keeps_its_values():
    saved = {"data": {"path": "a.txt", "gone": 1}, "lr": 0.1}
    today = {"data": {"path": "b.txt", "split": "chars"}, "lr": 0.2, "seed": 1}
    assert in_shape_of(saved, today) == {"data": {"path": "a.txt", "split": "chars"}, "lr": 0.1, "seed": 1}
