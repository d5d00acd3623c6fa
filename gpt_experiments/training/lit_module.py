"""LightningModule: a GPT-2 trained on next-token cross-entropy, with perplexity.

Hyperparameters are stored as plain dicts (never DictConfig or partials) so
checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.plugins.precision import MixedPrecision

from gpt_experiments.legacy import stamp_format, upgrade_checkpoint, upgrade_scheduler
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.model_flops import training_flops_per_token
from gpt_experiments.tokenizer import build_tokenizer
from gpt_experiments.training.distributed import FSDP2Strategy, shard_blocks
from gpt_experiments.training.host_memory import reuse_freed_host_memory
from gpt_experiments.training.optimizers import build_optimizer, clip_gradients

# Validation dataloader index -> metric prefix (see GPTDataModule.val_dataloader).
EVAL_SPLITS = ("val", "train_eval")
# Logged after each validation; declared as metrics of TensorBoard's HParams tab (training/hparams.py).
# Named run/*: the Scalars tab orders its sections by name, and opens on the first (loss_vs_tokens).
VALIDATION_HPARAMS_METRICS = (
    "run/best_val_loss",
    "run/best_val_ppl",
    "run/final_val_loss",
    "run/final_val_ppl",
    "run/tokens_seen",
    "run/train_flops",
)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy on flattened ``[batch*seq, vocab]`` logits."""
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction=reduction)


class GPTLitModule(L.LightningModule):
    def __init__(
        self,
        model: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        compile_model: bool = False,
        tokenizer: dict[str, Any] | None = None,
        sequence_length: int | None = None,
    ) -> None:
        """
        Args:
            model: :class:`GPTConfig` fields.
            optimizer: a Hydra ``_target_`` spec of a torch optimizer (``params`` is filled
                in here); its ``weight_decay`` applies to the decay group only.
            scheduler: a Hydra ``_target_`` spec of a factory in :mod:`.schedules` (the
                optimizer and step count are filled in here); ``None`` is constant. The
                ``{"name": ...}`` form of older checkpoints is read too.
            compile_model: run the GPT through ``torch.compile`` (slow first steps, faster after).
            tokenizer: the saved form of the run's tokenizer (``Tokenizer.to_dict()``; None:
                GPT-2's), kept in checkpoints so generation and evaluation decode with it.
            sequence_length: the training windows' length (``data.max_length``), which sets
                attention's share of the FLOPs per token; None: the model's context length.
        """
        super().__init__()
        # In today's form when saved below: load_from_checkpoint passes an old checkpoint's
        # settings here before on_load_checkpoint upgrades the rest of it.
        scheduler = upgrade_scheduler(scheduler)
        # logger=False: the entry point logs the whole run config, with its metrics, instead.
        self.save_hyperparameters(logger=False)
        self.model = GPT(GPTConfig(**model))
        # The convention of model_flops.py, at the length of the sequences trained on.
        self.flops_per_token = training_flops_per_token(self.model, sequence_length)
        self.tokenizer = build_tokenizer(tokenizer)
        # UTF-8 bytes per token id, to turn summed cross-entropy into bits per byte.
        self.register_buffer(
            "token_byte_lengths", torch.from_numpy(self.tokenizer.byte_lengths), persistent=False
        )
        # Saved in checkpoints so curves and the best score continue after a resume.
        self.register_buffer("tokens_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("best_val_loss", torch.tensor(math.inf))
        self._eval_sums: dict[str, list[torch.Tensor]] = {}
        self._configured = False

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stamp_format(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning calls this before it restores the data module and the callbacks, so all of
        # them read today's format.
        upgrade_checkpoint(checkpoint)

    def configure_model(self) -> None:
        # Lightning calls this for every fit/validate, so shard and compile only once.
        if self._configured:
            return
        strategy = self._trainer.strategy if self._trainer else None
        if strategy is not None and strategy.root_device.type == "cpu":
            reuse_freed_host_memory()  # each step's large buffers: reused, not faulted in again
        if isinstance(strategy, FSDP2Strategy):
            shard_blocks(self.model, self.device_mesh["data_parallel"], strategy.activation_checkpointing)
        # Compiled in place: parameter names, and so checkpoints, stay those of the plain model.
        if self.hparams.compile_model:
            self.model.compile()
        self._configured = True

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = self.model(inputs, targets=targets)
        self.tokens_seen += inputs.numel() * self.trainer.world_size
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/ppl", torch.exp(loss.detach()))
        self.log("train/tokens_seen", self.tokens_seen.float())
        # On the device, without waiting for it: a logged scalar is float32 in any case.
        self.log("perf/train_flops", self.tokens_seen.float() * self.flops_per_token)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def on_validation_epoch_start(self) -> None:
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        # Per split: summed cross-entropy (nats), scored tokens, UTF-8 bytes of the scored tokens.
        self._eval_sums = {split: [zero.clone(), zero.clone(), zero.clone()] for split in EVAL_SPLITS}

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ):
        inputs, targets = batch
        loss_sum = self.model(inputs, targets=targets, reduction="sum")
        sums = self._eval_sums[EVAL_SPLITS[dataloader_idx]]
        sums[0] += loss_sum.double()
        sums[1] += targets.numel()
        sums[2] += self.token_byte_lengths[targets].sum()

    def on_validation_epoch_end(self) -> None:
        """Mean cross-entropy over every scored token of the split; perplexity is its exp;
        bits per byte is the summed cross-entropy over ln 2 times the scored tokens' UTF-8 bytes,
        which compares across tokenizers (a window overlap counts a token's bytes as often as its loss)."""
        for split, (loss_sum, count, num_bytes) in self._eval_sums.items():
            loss_sum, count, num_bytes = (
                self.trainer.strategy.reduce(value, reduce_op="sum") for value in (loss_sum, count, num_bytes)
            )
            if count == 0:
                continue
            loss = (loss_sum / count).float()
            self.log(
                f"{split}/loss", loss, prog_bar=split == "val", add_dataloader_idx=False, sync_dist=False
            )
            self.log(f"{split}/ppl", torch.exp(loss), add_dataloader_idx=False, sync_dist=False)
            if num_bytes > 0:
                bpb = (loss_sum / (math.log(2) * num_bytes)).float()
                self.log(f"{split}/bpb", bpb, add_dataloader_idx=False, sync_dist=False)
            if split == "val" and not self.trainer.sanity_checking:
                self._log_hparams_metrics(loss)

    def _log_hparams_metrics(self, val_loss: torch.Tensor) -> None:
        """The metrics shown beside each run's hyperparameters in TensorBoard's HParams tab."""
        self.best_val_loss = torch.minimum(self.best_val_loss, val_loss.detach())
        values = (
            self.best_val_loss,
            torch.exp(self.best_val_loss),
            val_loss,
            torch.exp(val_loss),
            self.tokens_seen.float(),
            self.train_flops,
        )
        for name, value in zip(VALIDATION_HPARAMS_METRICS, values, strict=True):
            self.log(name, value, add_dataloader_idx=False)

    @property
    def train_flops(self) -> float:
        """Training FLOPs so far (all ranks), counted on the host in integers: exact, and free of
        float64, which some devices (MPS) lack."""
        return float(int(self.tokens_seen) * self.flops_per_token)

    def eval_losses(self) -> dict[str, float]:
        """The last validation's mean losses, e.g. ``{"val": 6.4, "train_eval": 0.5}``."""
        return {
            split: (loss_sum / count).item()
            for split, (loss_sum, count, _) in self._eval_sums.items()
            if count > 0
        }

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # Free the gradients now: Lightning would zero them only after the next forward
        # pass, holding a model-sized buffer through it (~500 MB for GPT-2 small).
        optimizer.zero_grad(set_to_none=True)

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        precision = self.trainer.precision_plugin
        if gradient_clip_val and isinstance(precision, MixedPrecision):
            # Lightning's check would refuse the fused AdamW here: see clip_gradients.
            clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm or "norm", precision.scaler)
        else:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self):
        optimizer = build_optimizer(self.model, self.hparams.optimizer)
        scheduler = instantiate(
            self.hparams.scheduler,
            optimizer=optimizer,
            total_steps=self.trainer.estimated_stepping_batches,
            _convert_="all",
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
