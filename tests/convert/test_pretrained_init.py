"""The ``init`` config group: a callback that loads pretrained weights when training starts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments.checkpoints.project import save_model
from gpt_experiments.convert import formats
from gpt_experiments.convert.formats import check_pretrained_fits
from gpt_experiments.convert.openai_tf import config_from_hparams, read_openai
from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPT
from gpt_experiments.training.callbacks.pretrained_init import PretrainedInit
from tests.convert.gpt2_checkpoints import TINY_HPARAMS, openai_arrays, write_openai_folder
from tests.helpers import TINY_RUN, quiet_trainer, run_script

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


class TinyLitModule(L.LightningModule):
    """Stands in for GPTLitModule: exposes ``.model`` and never changes it (learning rate 0)."""

    def __init__(self, context_length: int = TINY_HPARAMS["n_ctx"]) -> None:
        super().__init__()
        config = config_from_hparams(TINY_HPARAMS)
        config.context_length = context_length
        self.model = GPT(config)

    def training_step(self, batch, batch_idx):
        (tokens,) = batch
        logits = self.model(tokens[:, :-1])
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def fit(module: L.LightningModule, callback: L.Callback, root: Path, max_steps: int, ckpt_path=None):
    tokens = torch.randint(0, TINY_HPARAMS["n_vocab"], (4, 9), generator=torch.Generator().manual_seed(0))
    trainer = quiet_trainer(
        max_steps=max_steps, callbacks=[callback], default_root_dir=root, accelerator="cpu"
    )
    trainer.fit(module, DataLoader(TensorDataset(tokens), batch_size=2), ckpt_path=ckpt_path)
    return trainer


def test_fit_starts_from_openai_weights_with_shorter_context(openai_folder, tmp_path):
    module = TinyLitModule(context_length=9)
    wte = module.model.wte.weight
    fit(module, PretrainedInit(path=str(openai_folder), fmt="openai"), tmp_path, max_steps=1)
    pretrained = read_openai(openai_folder)
    assert torch.equal(module.model.wte.weight, pretrained.state["wte.weight"])
    assert torch.equal(module.model.wpe.weight, pretrained.state["wpe.weight"][:9])
    assert module.model.wte.weight is wte and module.model.lm_head.weight is wte


def test_resumed_fit_keeps_its_checkpoint_weights(openai_folder, tmp_path):
    first = TinyLitModule()
    trainer = fit(first, L.Callback(), tmp_path, max_steps=1)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    resumed = TinyLitModule()
    init = PretrainedInit(path=str(openai_folder), fmt="openai")
    fit(resumed, init, tmp_path, max_steps=2, ckpt_path=tmp_path / "last.ckpt")
    assert torch.equal(resumed.model.wte.weight, first.model.wte.weight)
    assert not torch.equal(resumed.model.wte.weight, read_openai(openai_folder).state["wte.weight"])


def test_mismatched_model_stops_the_fit_with_one_line(openai_folder, tmp_path):
    with pytest.raises(CheckpointError, match="model.context_length=40 exceeds the 17 positions"):
        fit(TinyLitModule(context_length=40), PretrainedInit(path=str(openai_folder)), tmp_path, 1)


@pytest.mark.parametrize("option", ["openai", "huggingface", "project"])
def test_init_configs_instantiate_the_callback(option):
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose(overrides=[f"+init={option}", "init.path=/models/124M"])
    callback = instantiate(cfg.init)
    assert isinstance(callback, PretrainedInit)
    assert (callback.fmt, callback.path) == (option, "/models/124M")


def test_init_none_is_null():
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        assert compose(overrides=["+init=none"]).init is None


@pytest.mark.slow
def test_train_script_starts_from_an_openai_folder(tmp_path):
    """`scripts/train.py init=openai init.path=...` as a user runs it, on a tiny release."""
    hparams = {"n_vocab": 50257, "n_ctx": 64, "n_embd": 24, "n_head": 3, "n_layer": 2}
    folder = write_openai_folder(tmp_path / "release", openai_arrays(hparams), hparams)
    common = [
        *TINY_RUN,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "init=openai",
        f"init.path={folder}",
    ]
    result = run_script("train.py", *common, f"hydra.run.dir={tmp_path / 'ok'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "ok" / "checkpoints" / "last.ckpt").is_file()

    mismatch = run_script(
        "train.py", *common, "model.n_layers=3", f"hydra.run.dir={tmp_path / 'bad'}", cwd=tmp_path
    )
    assert mismatch.returncode == 1
    assert "Traceback" not in mismatch.stderr
    error_lines = [line for line in mismatch.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and "layer" in error_lines[0]
    assert not (tmp_path / "bad").exists()  # refused before Hydra made the run folder


def test_a_pretrained_init_is_checked_from_its_settings_alone(tmp_path, monkeypatch):
    config = config_from_hparams(TINY_HPARAMS)
    checkpoint = save_model(GPT(config), tmp_path / "tiny.ckpt")

    def no_weights(*args):
        raise AssertionError("the weights were read")

    monkeypatch.setattr(formats, "load_model", no_weights)
    check_pretrained_fits(checkpoint, "auto", config)
    mismatch = rf"project checkpoint {checkpoint} has n_layers=3 but model.n_layers=4"
    with pytest.raises(CheckpointError, match=mismatch):
        check_pretrained_fits(checkpoint, "project", replace(config, n_layers=4))
    with pytest.raises(CheckpointError, match="tied output head, but model.tie_embeddings=false"):
        check_pretrained_fits(checkpoint, "project", replace(config, tie_embeddings=False))
