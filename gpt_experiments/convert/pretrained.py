"""The common form every checkpoint format is converted to, and loading it into a model."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from gpt_experiments.checkpoints.project import check_weights_fit
from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPT, GPTConfig

# OpenAI and Hugging Face store these as Conv1D weights [in, out]; nn.Linear wants [out, in].
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

# Keys that must agree exactly between a checkpoint and the model it is loaded into (the
# swappable parts too: GPT-2's weights in an RMSNorm model would load and compute nonsense).
ARCHITECTURE_KEYS = (
    "vocab_size",
    "emb_dim",
    "n_heads",
    "n_layers",
    "pos_embedding",
    "rope_base",
    "norm",
    "mlp",
    "hidden_dim",
    "qk_norm",
    "bias",
)


@dataclass
class Pretrained:
    """Weights in this project's names and their config.

    ``lm_head.weight`` is in ``state`` only for an untied head (``config.tie_embeddings``
    false); a tied head is ``wte.weight`` itself.
    """

    config: GPTConfig
    state: dict[str, torch.Tensor]
    source: str


def released_gpt2_config(
    vocab_size: int,
    context_length: int,
    emb_dim: int,
    n_heads: int,
    n_layers: int,
    tie_embeddings: bool = True,
    mlp_hidden: int | None = None,
) -> GPTConfig:
    """The config of a released GPT-2 checkpoint, whichever file format named its sizes."""
    return GPTConfig(
        vocab_size=vocab_size,
        context_length=context_length,
        emb_dim=emb_dim,
        n_heads=n_heads,
        n_layers=n_layers,
        drop_rate=0.0,  # a pretrained model is used as is; training configs set their own rate
        qkv_bias=True,  # every released GPT-2 has query/key/value biases
        tie_embeddings=tie_embeddings,  # released GPT-2s tie; exports of untied models do not
        mlp_hidden=mlp_hidden,
    )


def fitting_pretrained(config: GPTConfig, state: dict[str, torch.Tensor], source: str) -> Pretrained:
    """A file's weights in the common form, checked as they are read against the file's own
    config (:func:`check_weights_fit`): before any model is built from it, whether to generate,
    to convert or to start a training run (``init=``)."""
    check_weights_fit(config, state, source)
    return Pretrained(config=config, state=state, source=source)


def read_settings_json(path: Path, sizes: tuple[str, ...], fix: str) -> dict:
    """The JSON object of settings in ``path`` (``config.json``, ``hparams.json``), its ``sizes``
    present and whole numbers; anything else is one ``CheckpointError`` ending in ``fix``."""
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}): {fix}") from None
    if not isinstance(settings, dict):
        kind = type(settings).__name__
        raise CheckpointError(f"{path} holds a JSON {kind}, not an object of settings: {fix}")
    missing = [key for key in sizes if key not in settings]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}: {fix}")
    for key in sizes:
        # bool is an int subclass: `true` must not pass as a size of 1.
        if type(settings[key]) is not int:
            raise CheckpointError(f"{path} has {key}={json.dumps(settings[key])}, not a whole number: {fix}")
    return settings


def is_conv1d_weight(name: str) -> bool:
    return name.endswith(CONV1D_WEIGHTS)


def check_compatible(model_config: GPTConfig, source: GPTConfig, described: str) -> None:
    """Raise a one-line ``CheckpointError`` naming the first mismatch with the checkpoint
    ``described`` (e.g. "OpenAI checkpoint <folder>"), whose config is ``source``, and its fix."""
    if model_config.tie_embeddings != source.tie_embeddings:
        head = "a tied" if source.tie_embeddings else "an untied"
        raise CheckpointError(
            f"{described} has {head} output head, but model.tie_embeddings="
            f"{str(model_config.tie_embeddings).lower()}: set model.tie_embeddings="
            f"{str(source.tie_embeddings).lower()}"
        )
    expected = ", ".join(f"{key}={getattr(source, key)}" for key in ARCHITECTURE_KEYS)
    for key in ARCHITECTURE_KEYS:
        if getattr(model_config, key) != getattr(source, key):
            raise CheckpointError(
                f"{described} has {key}={getattr(source, key)} but model.{key}="
                f"{getattr(model_config, key)}: choose the model config matching the checkpoint ({expected})"
            )
    if model_config.context_length > source.context_length:
        raise CheckpointError(
            f"model.context_length={model_config.context_length} exceeds the {source.context_length} "
            f"positions in {described}: set model.context_length<={source.context_length}"
        )
    if source.qkv_bias and not model_config.qkv_bias:
        raise CheckpointError(
            f"{described} has query/key/value biases but model.qkv_bias=false: set model.qkv_bias=true"
        )


def fit_to_model(name: str, tensor: torch.Tensor, config: GPTConfig) -> torch.Tensor:
    """A shorter context keeps only the first rows of the position table."""
    return tensor[: config.context_length] if name == "wpe.weight" else tensor


@torch.no_grad()
def load_into_model(model: GPT, pretrained: Pretrained) -> None:
    """Copy ``pretrained`` into ``model``'s existing parameters, in place.

    Copying (rather than replacing parameters) keeps the tied head, the device and dtype,
    and any optimizer already holding references to the parameters.
    """
    check_compatible(model.config, pretrained.config, pretrained.source)
    # named_parameters() lists a shared tensor once: a tied lm_head is not a target, an untied one is.
    targets = dict(model.named_parameters())
    missing = sorted(set(targets) - set(pretrained.state))
    if missing:
        raise CheckpointError(
            f"{pretrained.source} lacks {len(missing)} tensors the model needs (first: {missing[0]}): "
            "the file is incomplete or not a GPT-2 checkpoint"
        )
    for name, param in targets.items():
        tensor = fit_to_model(name, pretrained.state[name], model.config)
        if tensor.shape != param.shape:
            raise CheckpointError(
                f"{pretrained.source}: tensor {name} has shape {tuple(tensor.shape)}, not the "
                f"{tuple(param.shape)} its own config implies: the file is corrupt or was edited"
            )
        param.copy_(tensor)


def model_from_pretrained(pretrained: Pretrained, **overrides: object) -> GPT:
    """A new GPT shaped like the checkpoint (``overrides`` change e.g. ``context_length``)."""
    model = GPT(replace(pretrained.config, **overrides))
    load_into_model(model, pretrained)
    return model.eval()
