"""A Lightning callback that starts training from pretrained GPT-2 weights."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from gpt_experiments.convert.formats import read_pretrained
from gpt_experiments.convert.pretrained import load_into_model


class PretrainedInit(L.Callback):
    """Copy a checkpoint's weights into ``pl_module.model`` when ``fit`` starts.

    ``fmt`` is ``openai``, ``huggingface``, ``project`` or ``auto``. The model keeps its own
    config: the checkpoint must match its shapes, and a shorter ``context_length`` keeps
    the first rows of the position table.
    """

    def __init__(self, path: str, fmt: str = "auto") -> None:
        self.path = path
        self.fmt = fmt

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A resumed run already holds its trained weights; pretrained ones would overwrite them.
        # (Strategies that restore after setup do so after this hook, so they win either way.)
        if trainer.ckpt_path:
            rank_zero_info(
                f"resuming from {trainer.ckpt_path}: not loading pretrained weights from {self.path}"
            )
            return
        pretrained = read_pretrained(self.path, self.fmt)
        load_into_model(pl_module.model, pretrained)
        rank_zero_info(f"initialised the model from {pretrained.source}")
