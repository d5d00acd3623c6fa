"""Reading the project's own checkpoints safely.

A Lightning checkpoint written by :class:`~gpt_experiments.training.lit_module.GPTLitModule`
holds ``state_dict`` (keys ``model.<gpt-2 name>``) and ``hyper_parameters["model"]``,
the :class:`~gpt_experiments.model.GPTConfig` as a plain dict. Files are loaded with
``weights_only=True``, so a pickle that would run code is refused instead of executed.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gpt_experiments.errors import CheckpointError, UnsafeCheckpointError, missing_reason, refusal_reason
from gpt_experiments.files import atomic_torch_save
from gpt_experiments.legacy import stamp_format, upgrade_checkpoint
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer import Tokenizer, build_tokenizer, gpt2

MODEL_PREFIX = "model."
# The per-layer tensors' names: h.<layer>.<part>.
LAYER_TENSOR = re.compile(r"h\.(\d+)\.")
# How torch.save files begin: a zip archive (the default since torch 1.6) or a pickle.
TORCH_FILE_MAGIC = (b"PK\x03\x04", b"\x80")


def safe_torch_load(path: str | Path, mmap: bool = False) -> Any:
    """``torch.load`` that never executes code from the file and fails with one clear line.

    ``mmap=True`` maps tensors from the file instead of reading them, so a caller that only
    needs the weights never pulls a training checkpoint's optimizer state (twice the
    weights, for Adam) into memory. Only zip-format files (torch.save's default) can be mapped.
    """
    path = Path(path)
    if (path / ".metadata").is_file():  # a torch.distributed.checkpoint folder
        from gpt_experiments.checkpoints.safe_dcp import check_sharded_checkpoint  # DCP: only for folders

        check_sharded_checkpoint(path)  # never advise gathering a folder that would run code
        raise CheckpointError(
            f"{path} is a sharded checkpoint: gather it into one file with "
            f"python scripts/consolidate_checkpoint.py {path} <file.ckpt>"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} {missing_reason(path)}: pass the path of a .ckpt/.pt file")
    with open(path, "rb") as f:
        if not f.read(4).startswith(TORCH_FILE_MAGIC):
            raise CheckpointError(
                f"{path} is not a checkpoint file (neither a zip archive nor a pickle): "
                "pass a .ckpt written by scripts/train.py or a converted .pt"
            )
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        reason = refusal_reason(err)
        raise UnsafeCheckpointError(
            f"{path} was refused: it contains pickled objects that could run code "
            f"({reason}); only load checkpoints you trust, converted to weights"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}): the file is truncated, "
            "corrupt or of another format"
        ) from err


def find_checkpoint(path: str | Path, prefer: str = "best") -> Path:
    """Resolve a checkpoint file, or a run folder (its best checkpoint, else its last)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path} {missing_reason(path)}: pass a checkpoint file or a run folder")
    candidates = sorted(path.rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise CheckpointError(f"{path} holds no .ckpt file: pass a run folder that has trained for an epoch")
    preferred = [p for p in candidates if p.name.startswith(prefer)]
    return (preferred or candidates)[-1]


def checkpoint_model_config(ckpt: dict, source: str | Path = "checkpoint") -> GPTConfig:
    """The model config saved in a loaded project checkpoint dict (upgraded to today's format)."""
    if isinstance(ckpt, dict):
        upgrade_checkpoint(ckpt, source)
    try:
        settings = ckpt["hyper_parameters"]["model"]
        if not isinstance(settings, dict):
            raise TypeError("'hyper_parameters.model' mapping")
        ckpt["state_dict"]  # settings alone are not a checkpoint
    except (KeyError, TypeError) as err:
        raise CheckpointError(
            f"{source} is not a gpt-experiments checkpoint (no {err} entry): "
            "convert other formats with scripts/convert_checkpoint.py"
        ) from err
    unknown = sorted(set(settings) - set(GPTConfig.__dataclass_fields__))
    if unknown:
        raise CheckpointError(
            f"{source} has model settings this version does not know: {unknown}; "
            "load it with the gpt-experiments version that wrote it"
        )
    return GPTConfig(**settings)


def check_weights_fit(config: GPTConfig, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Refuse a file whose tensors are not those its own config describes, before a model of
    that config is built: a file from elsewhere may name sizes (a million layers, a table of
    10**12 positions) that would take all the machine's time or memory to build.

    A tied head (``lm_head.weight``, a copy of ``wte.weight``) may be present or not.
    """
    if problem := tensor_mismatch(config, state):
        raise CheckpointError(
            f"{source} {problem}: the file is corrupt or was edited; export or download it again"
        )


def tensor_mismatch(config: GPTConfig, state: Mapping[str, torch.Tensor]) -> str | None:
    """The first tensor of ``state`` that a GPT of ``config`` lacks, needs or shapes otherwise."""
    layers = {int(match.group(1)) for name in state if (match := LAYER_TENSOR.match(name))}
    if layers != set(range(config.n_layers)):  # checked first: building the model takes time per layer
        return f"says n_layers={config.n_layers} but holds the tensors of {len(layers)} layers"
    with torch.device("meta"):  # shapes only: nothing allocated, nothing initialised
        model = GPT(config)
    expected = {name: tuple(param.shape) for name, param in model.named_parameters()}
    if missing := sorted(set(expected) - set(state)):
        return f"lacks tensor {missing[0]}, which its own config implies"
    if unexpected := sorted(set(state) - set(model.state_dict())):
        return f"holds tensor {unexpected[0]}, which its own config has no place for"
    for name, shape in expected.items():
        if problem := tensor_problem(name, state[name], shape):
            return problem
    return None


def tensor_problem(name: str, tensor: object, shape: tuple[int, ...]) -> str | None:
    """What is wrong with one saved tensor that a GPT needs with ``shape``, or None."""
    if not isinstance(tensor, torch.Tensor):
        return f"holds {name} as a {type(tensor).__name__}, not a tensor"
    if (found := tuple(tensor.shape)) != shape:
        return f"has tensor {name} of shape {found}, not the {shape} its own config implies"
    # Integers would be cast into the model without a word (or fail deep in load_state_dict).
    if not tensor.dtype.is_floating_point:
        dtype = str(tensor.dtype).removeprefix("torch.")
        return f"has tensor {name} of dtype {dtype}, not a floating-point one"
    return None


def model_weights(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The GPT's own tensors in a ``GPTLitModule`` state dict, named as in the GPT."""
    return {k.removeprefix(MODEL_PREFIX): v for k, v in state_dict.items() if k.startswith(MODEL_PREFIX)}


def model_from_checkpoint_dict(ckpt: dict, source: str | Path = "checkpoint") -> GPT:
    """Build a GPT from a loaded project checkpoint dict."""
    config = checkpoint_model_config(ckpt, source)
    weights = model_weights(ckpt["state_dict"])
    check_weights_fit(config, weights, source)
    return GPT.from_weights(config, weights)


def load_model(path: str | Path) -> GPT:
    """A GPT (in eval mode, on CPU) from a project checkpoint file or run folder."""
    file = find_checkpoint(path)
    model = model_from_checkpoint_dict(safe_torch_load(file, mmap=True), file)
    return model.eval()


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer a project checkpoint (file or run folder) was trained with."""
    file = find_checkpoint(path)
    checkpoint = safe_torch_load(file, mmap=True)
    if not isinstance(checkpoint, dict):
        return gpt2()  # not this project's: model_from_checkpoint_dict names the problem
    hparams = upgrade_checkpoint(checkpoint, file).get("hyper_parameters") or {}
    return build_tokenizer(hparams.get("tokenizer"))


def save_model(model: GPT, path: str | Path, tokenizer: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a checkpoint that :func:`load_model` (and Lightning's layout) reads,
    with ``tokenizer`` (``Tokenizer.to_dict()``; None: GPT-2's) for :func:`load_tokenizer`."""
    checkpoint = {
        "state_dict": {MODEL_PREFIX + name: tensor.cpu() for name, tensor in model.state_dict().items()},
        "hyper_parameters": {"model": model.config.to_dict(), "tokenizer": tokenizer or gpt2().to_dict()},
    }
    atomic_torch_save(stamp_format(checkpoint), path)
    return Path(path)
