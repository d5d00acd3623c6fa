"""Trackers: one run logged to TensorBoard, a CSV file, an MLflow tracking server, MLflow's local
store and an offline W&B run at once (``logger=many`` and two more) gets the same metrics at the
same steps, the same settings with the swept keys, and the same provenance in every one of
them; the run folder holds provenance.json and train.log. A tracker whose package is missing
is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from gpt_experiments.errors import ConfigError
from gpt_experiments.run_folder.provenance import read_provenance
from gpt_experiments.runs.records import scalar_events
from gpt_experiments.training.config_checks import check_group
from gpt_experiments.training.trackers import RunLogger
from tests.helpers import ROOT, TINY_RUN, run_script, script_env
from tests.helpers.trackers import csv_metrics, mlflow_run, serve_mlflow, wandb_run
from tests.training.test_training import read_events

# One test worker runs this file's tests, so the five-tracker run is trained once.
pytestmark = pytest.mark.xdist_group("tracked_run")

# 4 steps an epoch, every step logged, two validations.
SHORT_RUN = [
    *TINY_RUN,
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "optimizer.lr=0.002",
]
# TensorBoard's own view: the validation losses with tokens seen as the step. The other trackers
# plot the same thing from val/loss against train/tokens_seen (docs/trackers.md).
TENSORBOARD_ONLY = "loss_vs_tokens/"


def head_commit() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()


def tensorboard_series(run_dir) -> dict[str, list[tuple[int, float]]]:
    scalars = scalar_events(run_dir)
    return {
        tag: sorted((e.step, e.value) for e in scalars[tag]) for tag in scalars if TENSORBOARD_ONLY not in tag
    }


def assert_same_series(tracked, tensorboard, name):
    assert set(tracked) == set(tensorboard), name
    for key, points in tensorboard.items():
        assert [step for step, _ in tracked[key]] == [step for step, _ in points], f"{name} {key}"
        assert [value for _, value in tracked[key]] == pytest.approx([v for _, v in points], rel=1e-6), key


# Session scope: the worker may run other files' tests between this file's.
@pytest.fixture(scope="session")
def tracked_run(tmp_path_factory):
    """The run folder, what MLflow's server and local store hold, and the run's result, of one
    run logged to all five trackers."""
    tmp_path = tmp_path_factory.mktemp("trackers")
    (tmp_path / "server").mkdir()
    with serve_mlflow(tmp_path / "server") as server_url:
        trackers = [
            "logger=many",
            "+logger@logger.mlflow=mlflow",
            f"logger.mlflow.tracking_uri={server_url}",
            "+logger@logger.mlflow_local=mlflow",
            "+logger@logger.wandb=wandb",
        ]
        env = script_env(tmp_path, WANDB_MODE="offline", WANDB_SILENT="true")
        env.pop("MLFLOW_TRACKING_URI", None)  # the local store must be the default one
        result = run_script("train.py", *SHORT_RUN, *trackers, cwd=tmp_path, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        [run_dir] = [p.parent for p in (tmp_path / "outputs" / "runs").glob("*/*/.hydra")]
        local_store = f"sqlite:///{tmp_path / 'outputs' / 'mlruns' / 'mlflow.db'}"
        return run_dir, mlflow_run(server_url), mlflow_run(local_store), result


@pytest.mark.slow
def test_every_tracker_gets_tensorboards_metrics_at_its_steps(tracked_run):
    run_dir, (_, server_series), (_, local_series), _ = tracked_run
    tensorboard = tensorboard_series(run_dir)
    assert [step for step, _ in tensorboard["train/loss"]] == list(range(1, 9))  # optimizer steps done
    assert [step for step, _ in tensorboard["val/loss"]] == [4, 8]
    assert_same_series(server_series, tensorboard, "mlflow server")
    assert_same_series(local_series, tensorboard, "mlflow local store")
    assert_same_series(csv_metrics(run_dir / "csv" / "metrics.csv"), tensorboard, "csv")
    assert_same_series(wandb_run(run_dir)[1], tensorboard, "wandb")


@pytest.mark.slow
def test_every_tracker_gets_the_settings_with_the_swept_keys_and_the_provenance(tracked_run):
    run_dir, (server, _), (local, _), _ = tracked_run
    settings = yaml.safe_load((run_dir / "hparams.yaml").read_text())  # TensorBoard's HParams
    assert settings["optimizer.lr"] == 0.002 and settings["model"] == "tiny"
    # A single run's swept keys: the settings its command line set, in the HParams order.
    swept = ",".join(key for key in settings if key in {item.split("=", 1)[0] for item in SHORT_RUN})
    assert swept.startswith("model,model.context_length,trainer.max_epochs")
    record = read_provenance(run_dir)
    commit = head_commit()
    assert record["code"]["commit"] == commit
    assert record["versions"]["torch"] == torch.__version__

    for run in (server, local):
        assert run.data.params == {key: str(value) for key, value in settings.items()} | {"swept_keys": swept}
        assert run.data.tags["mlflow.source.git.commit"] == commit
        assert run.data.tags["provenance.code.commit"] == commit
        assert run.data.tags["provenance.versions.torch"] == torch.__version__
        assert run.data.tags["provenance.settings.precision"] == "32-true"
        assert run.info.run_name == run_dir.name
    config, _ = wandb_run(run_dir)
    assert {key: config[key] for key in settings} == settings and config["swept_keys"] == swept
    assert config["provenance"]["code"]["commit"] == commit
    assert config["provenance"]["settings"] == record["settings"]
    csv_hparams = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert csv_hparams["provenance.code.commit"] == commit and csv_hparams["swept_keys"] == swept
    # TensorBoard: the record in the Text tab, once.
    [text] = read_events(run_dir).Tensors("provenance/text_summary")
    assert text.step == 0 and commit in text.tensor_proto.string_val[0].decode()


@pytest.mark.slow
def test_the_run_folder_records_what_made_it_and_its_console(tracked_run):
    run_dir, _, _, result = tracked_run
    record = json.loads((run_dir / "provenance.json").read_text())
    assert record["outcome"] == "finished" and record["started_utc"] <= record["ended_utc"]
    script = [sys.executable, str(ROOT / "scripts" / "train.py")]
    assert record["command"][: len(script) + len(SHORT_RUN) + 1] == [*script, *SHORT_RUN, "logger=many"]
    assert record["settings"] == {
        "precision": "32-true",
        "accelerator": "cpu",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "SingleDeviceStrategy",
        "optimizer": "AdamW",
        "fused_optimizer": True,  # fused: auto on the CPU
        "compile": False,
        "float32_matmul_precision": "highest",
    }
    assert record["data"]["content_digest"].startswith("text:")
    log = (run_dir / "train.log").read_text()
    summary = result.stdout[result.stdout.index("Run folder:") :]
    assert summary in log  # the closing summary, as printed
    assert "\r" not in log and "\x1b" not in log


class NeedsAMissingPackage(RunLogger):
    needs_package = "a_package_nobody_installed"


def test_a_tracker_whose_package_is_missing_is_refused_with_its_pip_extra():
    spec = OmegaConf.create({"_target_": f"{__name__}.NeedsAMissingPackage"})
    with pytest.raises(ConfigError) as refused:
        check_group("logger", spec)
    missing = NeedsAMissingPackage.needs_package
    assert str(refused.value) == (
        f"logger: NeedsAMissingPackage needs {missing}, which is not installed: "
        f"pip install 'gpt-experiments[{missing}]' (or pip install {missing})"
    )


# Run at start-up through PYTHONPATH: a None entry in sys.modules makes Python report mlflow
# as missing, to importlib.util.find_spec and to import alike.
HIDE_MLFLOW = "import sys\nsys.modules['mlflow'] = None\n"


@pytest.mark.slow
def test_logger_mlflow_without_mlflow_is_one_error_line_and_no_run_folder(tmp_path):
    hider = tmp_path / "hider"
    hider.mkdir()
    (hider / "sitecustomize.py").write_text(HIDE_MLFLOW)
    env = script_env(tmp_path, PYTHONPATH=f"{hider}:{ROOT}")
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), *TINY_RUN, "logger=mlflow"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: logger: RunMLFlowLogger needs mlflow, which is not installed: "
        "pip install 'gpt-experiments[mlflow]' (or pip install mlflow)"
    ]
    assert not (tmp_path / "outputs").exists()
