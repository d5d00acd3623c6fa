"""The loss history of a run: ``history.csv``, the seed's loss and perplexity plots, and
TensorBoard curves against tokens seen."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib.image
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments import library_internals as internals
from gpt_experiments.errors import warn
from gpt_experiments.run_folder.history import perplexity, write_history_csv
from gpt_experiments.training.callbacks.plots import plot_curves
from gpt_experiments.training.callbacks.tensorboard import tensorboard_logger
from gpt_experiments.training.lit_module import GPTLitModule

# The figures written beside history.csv (``<name>.png``) and shown in TensorBoard's Images tab.
PLOT_NAMES = ("loss", "perplexity")


class LossHistory(L.Callback):
    """After every validation, records the losses against steps, epochs and tokens seen.

    Writes ``history.csv``, ``loss.png`` and ``perplexity.png`` to ``output_dir`` (the
    seed's figures), adds TensorBoard curves whose x axis is tokens seen and the figures
    as images, and prints
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
    def on_train_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        if validation_skipped_by_resume(trainer, self.rows):
            warn(
                f"the checkpoint was saved at the end of epoch {trainer.current_epoch - 1}, before its "
                "validation (a stop signal during its last step, or a checkpoint of an older version): "
                "Lightning resumes in the next epoch, so that validation, its history.csv row and its "
                "best checkpoint are skipped"
            )

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
            "train_flops": float(pl_module.train_flops),
            "train_loss": losses.get("train_eval", math.nan),
            "val_loss": losses["val"],
            "val_ppl": perplexity(losses["val"]),
        }
        self.rows.append(row)
        self.write()
        tensorboard = tensorboard_logger(trainer)
        if tensorboard is not None:
            for split, loss in losses.items():
                tensorboard.experiment.add_scalar(f"loss_vs_tokens/{split}", loss, tokens)
            for name in PLOT_NAMES:  # the same figures in the Images tab, one per validation
                image = matplotlib.image.imread(self.output_dir / f"{name}.png")[..., :3]  # RGB in [0, 1]
                tensorboard.experiment.add_image(
                    f"plots/{name}", image, trainer.global_step, dataformats="HWC"
                )

    def write(self) -> None:
        write_history_csv(self.rows, self.output_dir)
        epochs = [r["epoch"] for r in self.rows]
        tokens = [r["tokens_seen"] for r in self.rows]
        losses = {"Validation loss": [r["val_loss"] for r in self.rows]}
        if not all(math.isnan(r["train_loss"]) for r in self.rows):
            losses = {"Training loss": [r["train_loss"] for r in self.rows], **losses}
        plot_curves(epochs, tokens, losses, "Loss", self.output_dir / f"{PLOT_NAMES[0]}.png")
        ppl = {
            name.replace("loss", "perplexity"): [perplexity(v) for v in values]
            for name, values in losses.items()
        }
        plot_curves(epochs, tokens, ppl, "Perplexity", self.output_dir / f"{PLOT_NAMES[1]}.png")


def validation_skipped_by_resume(trainer: L.Trainer, rows: list[dict[str, float]]) -> bool:
    """Whether this fit resumed at the start of an epoch whose previous epoch's validation was due
    and never recorded: Lightning resumes a checkpoint of an epoch's last batch in the next epoch."""
    # The restored count of the epoch's batches (reset when the next epoch's pass begins).
    batches = internals.batch_progress(trainer).processed
    at_epoch_start = batches == 0 or batches >= trainer.num_training_batches
    if trainer.ckpt_path is None or trainer.global_step == 0 or not at_epoch_start:
        return False
    if any(row["step"] == trainer.global_step for row in rows):
        return False
    # The previous epoch is over: was a validation due after its last batch?
    previous_epoch = trainer.current_epoch - 1
    return internals.validation_due(
        trainer, previous_epoch, trainer.num_training_batches, trainer.global_step
    )
