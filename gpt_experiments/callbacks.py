"""Callbacks that report on training: the loss history with its plots, and text samples."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments.generation import generate, sampler_and_prompts
from gpt_experiments.lit_module import GPTLitModule
from gpt_experiments.plots import plot_curves
from gpt_experiments.tokenizer import decode, encode

HISTORY_FIELDS = ("step", "epoch", "tokens_seen", "train_loss", "val_loss", "val_ppl")


def perplexity(loss: float) -> float:
    """exp(loss), capped before float overflow (a diverged run still gets a plottable value)."""
    return math.exp(min(loss, 700.0))


def _tensorboard(trainer: L.Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


class LossHistory(L.Callback):
    """After every validation, records the losses against steps, epochs and tokens seen.

    Writes ``history.csv``, ``loss.png`` and ``perplexity.png`` to ``output_dir`` (the
    seed's figures), adds TensorBoard curves whose x axis is tokens seen, and prints
    the loss before training (from the sanity check).
    """

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.rows: list[dict[str, float]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])

    @rank_zero_only
    def on_validation_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        losses = pl_module.eval_losses()
        if "val" not in losses:
            return
        if trainer.sanity_checking:
            train = f", train {losses['train_eval']:.3f}" if "train_eval" in losses else ""
            print(f"Loss before training (sanity-check batches): val {losses['val']:.3f}{train}")
            return
        tokens = int(pl_module.tokens_seen)
        steps_per_epoch = max(1, trainer.num_training_batches)
        row = {
            "step": trainer.global_step,
            "epoch": trainer.global_step / steps_per_epoch,
            "tokens_seen": tokens,
            "train_loss": losses.get("train_eval", math.nan),
            "val_loss": losses["val"],
            "val_ppl": perplexity(losses["val"]),
        }
        self.rows.append(row)
        tensorboard = _tensorboard(trainer)
        if tensorboard is not None:
            for split, loss in losses.items():
                tensorboard.experiment.add_scalar(f"loss_vs_tokens/{split}", loss, tokens)
        self.write()

    def write(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.output_dir / f".history.csv.tmp{os.getpid()}"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.output_dir / "history.csv")
        epochs = [r["epoch"] for r in self.rows]
        tokens = [r["tokens_seen"] for r in self.rows]
        losses = {"Validation loss": [r["val_loss"] for r in self.rows]}
        if not all(math.isnan(r["train_loss"]) for r in self.rows):
            losses = {"Training loss": [r["train_loss"] for r in self.rows], **losses}
        plot_curves(epochs, tokens, losses, "Loss", self.output_dir / "loss.png")
        ppl = {
            name.replace("loss", "perplexity"): [perplexity(v) for v in values]
            for name, values in losses.items()
        }
        plot_curves(epochs, tokens, ppl, "Perplexity", self.output_dir / "perplexity.png")


class TextSamples(L.Callback):
    """Generates from fixed prompts at the end of every training epoch; prints and logs them."""

    def __init__(self, sampler: dict[str, Any], every_n_epochs: int = 1) -> None:
        self.sampler, self.prompts = sampler_and_prompts(sampler)
        self.every_n_epochs = every_n_epochs

    def on_fit_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        # Fail before the first epoch, not after it, on a bad sampler setting.
        self.sampler.validate(pl_module.model.config.vocab_size)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        outputs = generate(pl_module.model, [encode(p) for p in self.prompts], self.sampler)
        texts = [decode(ids) for ids in outputs]
        tensorboard = _tensorboard(trainer)
        for index, text in enumerate(texts):
            print(f"[epoch {trainer.current_epoch + 1}] {text!r}")
            if tensorboard is not None:
                # Markdown code block keeps the sample's whitespace readable in TensorBoard.
                block = "    " + text.replace("\n", "\n    ")
                tensorboard.experiment.add_text(f"samples/prompt_{index}", block, trainer.global_step)
