"""Text samples from fixed prompts at the end of every epoch, printed and sent to TensorBoard."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

from gpt_experiments.devices import has_native_bf16
from gpt_experiments.inference.precision import inference_view
from gpt_experiments.inference.sampling import generate, sampler_and_prompts
from gpt_experiments.model import GPT
from gpt_experiments.training.callbacks.tensorboard import tensorboard_logger
from gpt_experiments.training.lit_module import GPTLitModule


class TextSamples(L.Callback):
    """Generates from fixed prompts at the end of every training epoch; prints and logs them."""

    def __init__(self, sampler: dict[str, Any], every_n_epochs: int = 1) -> None:
        self.sampler, self.prompts = sampler_and_prompts(sampler)
        self.every_n_epochs = every_n_epochs

    def on_fit_start(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        # The run's tokenizer decides the end-of-text id; fail before the first epoch on a bad setting.
        self.sampler = self.sampler.for_tokenizer(pl_module.tokenizer.eot_id)
        self.sampler.validate(pl_module.model.config.vocab_size)
        if self.sharded(trainer):
            rank_zero_info("text samples are off: the model is sharded; run generate on a checkpoint instead")

    @staticmethod
    def sharded(trainer: L.Trainer) -> bool:
        # Rank 0 alone cannot run a sharded model: the others would have to join every forward pass.
        return isinstance(trainer.strategy, FSDPStrategy | ModelParallelStrategy)

    @staticmethod
    def sampling_model(trainer: L.Trainer, pl_module: GPTLitModule) -> GPT:
        """On the CPU, a view with oneDNN-packed layers (in bf16 when training in bf16): it
        generates 2-4x faster than the training model's plain fp32 layers (docs/benchmarks.md).
        Elsewhere the training model itself, as GPUs gain little from packing."""
        model = pl_module.model
        if next(model.parameters()).device.type != "cpu":
            return model
        in_bf16 = str(trainer.precision).startswith("bf16") and has_native_bf16(torch.device("cpu"))
        return inference_view(model, "bf16" if in_bf16 else "fp32")

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: GPTLitModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs or self.sharded(trainer):
            return
        tokenizer = pl_module.tokenizer
        outputs = generate(
            self.sampling_model(trainer, pl_module), [tokenizer.encode(p) for p in self.prompts], self.sampler
        )
        texts = [tokenizer.decode(ids) for ids in outputs]
        tensorboard = tensorboard_logger(trainer)
        for index, text in enumerate(texts):
            print(f"[epoch {trainer.current_epoch + 1}] {text!r}")
            if tensorboard is not None:
                # Markdown code block keeps the sample's whitespace readable in TensorBoard.
                block = "    " + text.replace("\n", "\n    ")
                tensorboard.experiment.add_text(f"samples/prompt_{index}", block, trainer.global_step)
