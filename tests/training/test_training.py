"""The training path end to end: config -> Lightning fit -> TensorBoard, checkpoints, plots."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch.utils.data import DataLoader

from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.devices import has_native_bf16
from gpt_experiments.training.hparams import HPARAMS_METRICS
from gpt_experiments.training.lit_module import GPTLitModule, cross_entropy
from tests.helpers import TINY_RUN, quiet_trainer, run_script

TINY_MODEL = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=1, drop_rate=0.0)


def test_validation_loss_is_the_mean_over_every_token_not_over_batches():
    torch.manual_seed(0)
    module = GPTLitModule(model=TINY_MODEL, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    windows = TokenWindows(torch.randint(0, 101, (60,)).numpy().astype("uint16"), max_length=8, stride=5)
    loader = DataLoader(windows, batch_size=4)  # 11 windows: batches of 4, 4 and 3
    trainer = quiet_trainer()
    metrics = trainer.validate(module, dataloaders=loader, verbose=False)[0]
    with torch.no_grad():
        x = torch.stack([windows[i][0] for i in range(len(windows))])
        y = torch.stack([windows[i][1] for i in range(len(windows))])
        expected = cross_entropy(module.model(x), y).item()
    assert metrics["val/loss"] == pytest.approx(expected, rel=1e-5)
    assert metrics["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-5)


def test_verdict_repro_sets_the_seed_chapter_settings(compose_train):
    cfg = compose_train("experiment=verdict_repro")
    assert cfg.model.emb_dim == 768 and cfg.model.n_layers == 12 and cfg.model.n_heads == 12
    assert (cfg.model.context_length, cfg.model.drop_rate, cfg.model.qkv_bias) == (256, 0.1, False)
    assert (cfg.model.tie_embeddings, cfg.model.weight_init) == (False, "pytorch")  # the seed's own model
    assert (cfg.data.max_length, cfg.data.stride, cfg.data.batch_size) == (256, 256, 2)
    assert cfg.data.path.endswith("the-verdict.txt")
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.seed) == (4e-4, 0.1, 123)
    assert (cfg.trainer.max_epochs, cfg.trainer.val_check_interval) == (10, 5)
    # The seed trains in fp32 and evaluates 5 training batches, whatever the quick start's defaults.
    assert (cfg.trainer.precision, cfg.data.eval_train_batches) == ("32-true", 5)


def test_quick_start_trains_in_bf16_only_where_the_hardware_has_bf16_units(compose_train):
    cfg = compose_train()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "bf16-mixed" if has_native_bf16(device) else "32-true"
    assert (cfg.trainer.precision, cfg.data.eval_train_batches) == (expected, 1)


def read_events(log_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def hparams_of(events: EventAccumulator) -> tuple[dict, list[str]]:
    """The hyperparameters (in the experiment's column order) and metric names of the run's HParams."""
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    values = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    values = values.session_start_info.hparams
    assert set(values) == {info.name for info in experiment.hparam_infos}
    params = {
        info.name: getattr(values[info.name], values[info.name].WhichOneof("kind"))
        for info in experiment.hparam_infos
    }
    return params, [m.name.tag for m in experiment.metric_infos]


@pytest.mark.slow
def test_training_run_writes_logs_checkpoints_and_plots(tmp_path):
    run_dir = tmp_path / "run"
    result = run_script("train.py", *TINY_RUN, "optimizer.lr=3e-3", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Loss before training" in result.stdout and "[epoch 2] 'Every effort moves you" in result.stdout
    # A quiet console: none of the third-party notes a user cannot act on.
    console = result.stdout + result.stderr
    noise = ("Tip:", "LeafSpec", "was configured so 100%", "site-packages", "Total FLOPs")
    assert not [note for note in noise if note in console], console[-3000:]

    assert (run_dir / ".hydra" / "config.yaml").is_file()
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and any(name.startswith("best-") for name in checkpoints)
    for plot in ("loss.png", "perplexity.png"):
        assert (run_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(run_dir / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 2  # one validation per epoch
    assert float(history[-1]["val_loss"]) < float(history[0]["val_loss"])
    assert int(history[-1]["tokens_seen"]) == 2 * int(history[0]["tokens_seen"]) > 0

    events = read_events(run_dir)  # written straight into the run folder: its name is the run's
    scalars = set(events.Tags()["scalars"])
    expected = {
        "train/loss",
        "train/ppl",
        "train/lr",
        "train/tokens_seen",
        "val/loss",
        "val/ppl",
        "train_eval/loss",
        "loss_vs_tokens/val",
        "loss_vs_tokens/train_eval",
        "run/best_val_loss",
    }
    assert expected <= scalars
    assert "epoch" not in scalars  # Lightning's 0-based epoch chart is dropped
    assert all(not math.isnan(e.value) for tag in scalars for e in events.Scalars(tag))  # no placeholders
    assert events.Tags()["images"] == ["plots/loss", "plots/perplexity"]
    assert len(events.Images("plots/loss")) == 2  # one per validation
    val_loss = [e.value for e in events.Scalars("val/loss")]
    val_ppl = [e.value for e in events.Scalars("val/ppl")]
    assert val_ppl[-1] == pytest.approx(math.exp(val_loss[-1]), rel=1e-4)
    best = [e.value for e in events.Scalars("run/best_val_loss")]
    assert best[-1] == pytest.approx(min(val_loss), rel=1e-6)
    assert [e.step for e in events.Scalars("loss_vs_tokens/val")] == [int(r["tokens_seen"]) for r in history]
    samples = [t for t in events.Tags()["tensors"] if t.startswith("samples/")]
    assert samples == ["samples/prompt_0/text_summary"]
    assert len(events.Tensors(samples[0])) == 2  # one per epoch

    params, metric_names = hparams_of(events)
    # What the command line set (the model option by name), then the fixed set; no paths.
    assert list(params) == [
        *("model", "model.context_length", "trainer.max_epochs", "trainer.precision"),
        *(
            "sampler.max_new_tokens",
            "optimizer.lr",
            "model.n_layers",
            "model.emb_dim",
            "data.batch_size",
        ),
    ]
    assert params["optimizer.lr"] == pytest.approx(3e-3) and params["model"] == "tiny"
    assert params["model.context_length"] == 32 and params["model.n_layers"] == 2
    assert metric_names == list(HPARAMS_METRICS)
    assert events.Scalars("run/tokens_seen")[-1].value == int(history[-1]["tokens_seen"])

    # The closing summary says where everything is and how to go on.
    summary = result.stdout[result.stdout.index("Run folder:") :]
    best_ckpt = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    assert f"Run folder:       {run_dir.relative_to(tmp_path)}" in summary
    # The summary reports the loss as logged (float32); history.csv keeps more digits, which can
    # round the perplexity's last digit the other way.
    best_loss = float(np.float32(min(float(r["val_loss"]) for r in history)))
    best_line = f"(val loss {best_loss:.4f}, perplexity {math.exp(best_loss):,.2f})"
    assert f"{best_ckpt.relative_to(tmp_path)} {best_line}" in summary
    assert f"Trained on:       {int(history[-1]['tokens_seen']):,} tokens in " in summary
    assert f"tensorboard --logdir {run_dir}" in summary
    assert f"scripts/compare_runs.py {run_dir}" in summary
    assert f"scripts/generate.py ckpt={best_ckpt}" in summary


@pytest.mark.slow
def test_verdict_repro_path_on_a_tiny_model_learns(tmp_path):
    """The seed's run (data, schedule of evaluations, optimizer) with a tiny model instead of 124M."""
    run_dir = tmp_path / "run"
    overrides = [
        "experiment=verdict_repro",
        "model=tiny",
        "model.context_length=256",
        "optimizer.lr=1e-2",
        "trainer.max_epochs=4",
        "trainer.enable_progress_bar=false",
        "sampler.max_new_tokens=4",
    ]
    result = run_script("train.py", *overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(run_dir / "history.csv") as f:
        history = list(csv.DictReader(f))
    # 9 steps per epoch, validated every 5 global steps: steps 5, 10, ..., 35.
    assert [int(r["step"]) for r in history] == [5, 10, 15, 20, 25, 30, 35]
    first_loss = float(
        result.stdout.split("Loss before training (sanity-check batches): val ")[1].split()[0].rstrip(",")
    )
    assert first_loss == pytest.approx(math.log(50257), abs=0.3)  # an untrained model is near-uniform
    assert float(history[-1]["train_loss"]) < first_loss - 3
