"""What TensorBoard shows of runs: one moment of a run carries one step in every artefact (scalars,
images, text, history.csv, checkpoint names); the seeds of one setting share an HParams group."""

from __future__ import annotations

import csv
import re
import time

import pytest

from gpt_experiments.training.hparams import setting_group_name
from tests.helpers import TINY_RUN, run_script
from tests.helpers.tensorboard_server import serve_tensorboard, served_hparams
from tests.runs.test_sweeps import SWEEP_JOB, sweep_dir_of
from tests.training.test_training import read_events


def test_tensorboard_steps_agree_with_history_images_samples_and_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    limits = ["trainer.limit_train_batches=4", "trainer.limit_val_batches=1", "trainer.log_every_n_steps=10"]
    result = run_script("train.py", *TINY_RUN, *limits, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    steps = [int(row["step"]) for row in csv.DictReader((run_dir / "history.csv").open())]
    assert steps == [4, 8]  # optimizer steps done at each validation
    events = read_events(run_dir)
    for tag in ("val/loss", "val/ppl", "train_eval/loss", "run/best_val_loss", "train/loss", "train/lr"):
        assert [e.step for e in events.Scalars(tag)] == steps, tag
    assert [e.step for e in events.Images("plots/loss")] == steps
    assert [e.step for e in events.Tensors("samples/prompt_0/text_summary")] == steps
    (best,) = (run_dir / "checkpoints").glob("best-*.ckpt")
    assert int(re.search(r"step(\d+)", best.name).group(1)) in steps


def test_the_seeds_of_one_setting_share_an_hparams_group_and_other_settings_do_not(compose_train):
    group = setting_group_name(compose_train("model=tiny", "seed=1"))
    assert setting_group_name(compose_train("model=tiny", "seed=2")) == group
    # Where files go and how progress shows never change results.
    neutral = ["paths.log_dir=elsewhere", "trainer.enable_progress_bar=false"]
    assert setting_group_name(compose_train("model=tiny", "seed=3", *neutral)) == group
    assert setting_group_name(compose_train("model=tiny", "seed=1", "optimizer.lr=0.01")) != group
    assert setting_group_name(compose_train("model=tiny", "seed=1", "model.n_layers=1")) != group


@pytest.mark.slow
def test_tensorboard_serves_the_seeds_of_a_setting_as_one_hparams_row(tmp_path):
    result = run_script("train.py", "-m", *SWEEP_JOB, "seed=1,2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with serve_tensorboard(sweep_dir_of(tmp_path)) as url:
        deadline = time.monotonic() + 60
        while True:  # the server reads the runs in the background
            _, groups = served_hparams(url, runs=1)
            if sum(len(group["sessions"]) for group in groups) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    (group,) = groups
    assert group["name"].startswith("setting ")
    assert sorted(session["name"] for session in group["sessions"]) == ["0_seed-1", "1_seed-2"]
