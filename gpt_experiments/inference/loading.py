"""What the generate and evaluate CLIs share: choosing a device and loading a model onto it."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gpt_experiments.checkpoints.project import find_checkpoint
from gpt_experiments.convert.formats import detect_format, load_any_model, load_any_tokenizer
from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.precision import resolve_precision, to_inference_precision
from gpt_experiments.model import GPT
from gpt_experiments.tokenizer import Tokenizer


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; anything else must be usable here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device={name!r} is not a torch device: use cpu, cuda, mps or auto") from err
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise ConfigError(f"device={name!r} is not available on this machine: use device=cpu or device=auto")
    return device


def load_inference_model(
    ckpt: str | None, device: str = "cpu", precision: str = "fp32", compile_model: bool = False
) -> GPT:
    """A model in eval mode on ``device`` at ``precision`` (auto, fp32, bf16), from a project
    checkpoint or run folder, an OpenAI GPT-2 folder or a Hugging Face GPT-2 folder, compiled
    with ``torch.compile`` if ``compile_model``. The one place the CLIs read weights."""
    if not ckpt:
        raise ConfigError("ckpt is not set: pass ckpt=<run folder or .ckpt file>")
    target = resolve_device(device)
    # Resolved before loading, so that a typo does not wait for the weights.
    chosen_precision = resolve_precision(precision, target)
    model = load_any_model(ckpt).to(target).eval()
    return compiled(to_inference_precision(model, chosen_precision, pack=not compile_model), compile_model)


def load_training_model(ckpt: str, device: str = "cpu", compile_model: bool = False) -> GPT:
    """The model as training validated it: fp32 weights in plain layers (no packed or int8
    ones), for a validation under the run's own autocast."""
    return compiled(load_any_model(ckpt).to(resolve_device(device)).eval(), compile_model)


def compiled(model: GPT, compile_model: bool) -> GPT:
    """``model``, compiled in place (on its first call, which then takes seconds to minutes)."""
    if compile_model:
        print("compile=true: the first batch compiles the model (seconds to minutes)", file=sys.stderr)
        model.compile()
    return model


def load_inference_tokenizer(ckpt: str) -> Tokenizer:
    """The tokenizer to encode and decode with for ``ckpt`` (see :func:`load_inference_model`)."""
    if not ckpt:
        raise ConfigError("ckpt is not set: pass ckpt=<run folder or .ckpt file>")
    return load_any_tokenizer(ckpt)


def describe_loaded(ckpt: str) -> str:
    """Which weights ``ckpt`` named, for the CLIs to print: the checkpoint file a run folder (or a
    folder of runs, where the newest wins) resolved to, or the folder of another format."""
    fmt = detect_format(ckpt)
    if fmt != "project":
        return f"Loaded {fmt} checkpoint {ckpt}"
    line = f"Loaded checkpoint {find_checkpoint(ckpt)}"
    runs = {path.parent for path in Path(ckpt).rglob("*.ckpt")} if Path(ckpt).is_dir() else set()
    if len(runs) > 1:
        line += f" (the newest of {len(runs)} runs under {ckpt}: pass a run folder or a .ckpt to choose)"
    return line
