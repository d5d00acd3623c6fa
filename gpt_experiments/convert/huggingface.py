"""Reading and writing Hugging Face GPT-2 folders (``config.json`` + weights).

Hugging Face uses this project's parameter names, optionally under a ``transformer.``
prefix, with Conv1D weights stored ``[in, out]``. Files on the Hub omit the tied
``lm_head.weight``; an untied model (``tie_word_embeddings: false``) stores it, unprefixed.
Weights are read from ``model.safetensors`` or, failing that, from
``pytorch_model.bin`` without unpickling code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from tqdm import tqdm

from gpt_experiments.checkpoints.project import safe_torch_load
from gpt_experiments.convert.pretrained import (
    Pretrained,
    fitting_pretrained,
    is_conv1d_weight,
    read_settings_json,
    released_gpt2_config,
)
from gpt_experiments.errors import CheckpointError
from gpt_experiments.files import atomic_write, killed_writes, temporary_path
from gpt_experiments.model import GPT, GPTConfig

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PREFIX = "transformer."
END_OF_TEXT = 50256  # GPT-2's <|endoftext|>, its BOS and EOS token
HEAD = "lm_head.weight"
EXPORTED_WEIGHTS, EXPORTED_CONFIG = "model.safetensors", "config.json"  # what an export writes
# Attention-mask buffers of older transformers versions carry no weights.
SKIPPED_SUFFIXES = (".attn.bias", ".attn.masked_bias")
SIZES = ("vocab_size", "n_positions", "n_embd", "n_head", "n_layer")
# Settings of transformers' GPT2Config that change what the model computes, with the values
# this project's GPT-2 computes (a missing key means GPT2Config's default, the first one).
# Any other value would convert without a word and give other logits than transformers.
COMPUTED_AS = {
    "model_type": ("gpt2",),
    "activation_function": ("gelu_new", "gelu_pytorch_tanh"),  # both GELU's tanh form
    "layer_norm_epsilon": (1e-5,),
    "scale_attn_weights": (True,),
    "scale_attn_by_inverse_layer_idx": (False,),
    "add_cross_attention": (False,),
    "tie_word_embeddings": (True, False),
}
CONFIG_FIX = "pass a GPT-2 folder as transformers' GPT2LMHeadModel.save_pretrained writes it"


def is_huggingface_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def check_computed_as_here(hf_config: dict, path: Path) -> None:
    """Refuse a ``config.json`` asking for a computation this project's GPT-2 does not do."""
    for key, values in COMPUTED_AS.items():
        value = hf_config.get(key, values[0])
        # `type(...) is` : JSON's 1 is not the bool true, nor true the number 1.
        if not any(type(value) is type(allowed) and value == allowed for allowed in values):
            raise CheckpointError(
                f"{path} has {key}={json.dumps(value)}, but this project computes GPT-2 with "
                f"{' or '.join(json.dumps(allowed) for allowed in values)}: {CONFIG_FIX}"
            )
    n_inner = hf_config.get("n_inner")
    if n_inner is not None and (type(n_inner) is not int or n_inner <= 0):
        raise CheckpointError(
            f"{path} has n_inner={json.dumps(n_inner)}, not null or a positive whole number: {CONFIG_FIX}"
        )


def config_from_hf(hf_config: dict) -> GPTConfig:
    n_inner = hf_config.get("n_inner")  # null: 4 x n_embd, as GPTConfig's mlp_hidden
    return released_gpt2_config(
        vocab_size=hf_config["vocab_size"],
        context_length=hf_config["n_positions"],
        emb_dim=hf_config["n_embd"],
        n_heads=hf_config["n_head"],
        n_layers=hf_config["n_layer"],
        tie_embeddings=hf_config.get("tie_word_embeddings", True),  # transformers' default
        mlp_hidden=None if n_inner == 4 * hf_config["n_embd"] else n_inner,
    )


def hf_config_from(config: GPTConfig) -> dict:
    """A ``config.json`` that ``transformers.GPT2LMHeadModel.from_pretrained`` accepts."""
    hf_config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": config.vocab_size,
        "n_positions": config.context_length,
        "n_embd": config.emb_dim,
        "n_head": config.n_heads,
        "n_layer": config.n_layers,
        "n_inner": None if config.hidden_dim == 4 * config.emb_dim else config.hidden_dim,
        "activation_function": "gelu_new",  # the tanh approximation, as in model.MLP
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": config.drop_rate,
        "embd_pdrop": config.drop_rate,
        "attn_pdrop": config.drop_rate,
        "tie_word_embeddings": config.tie_embeddings,
        "torch_dtype": "float32",
    }
    # A small vocabulary has no <|endoftext|>: null, because a missing key means 50256 to
    # transformers (GPT2Config's default), an id outside such a vocabulary.
    end_of_text = END_OF_TEXT if config.vocab_size > END_OF_TEXT else None
    hf_config.update(bos_token_id=end_of_text, eos_token_id=end_of_text)
    return hf_config


def weight_file(folder: Path) -> Path:
    """The first of :data:`WEIGHT_FILES` present in ``folder``."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(
        f"Hugging Face folder {folder} has neither {' nor '.join(WEIGHT_FILES)}: download the model files too"
    )


def read_weight_file(folder: Path, mmap: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of ``folder``'s :func:`weight_file`; with ``mmap``, mapped rather than read."""
    path = weight_file(folder)
    if path.suffix != ".safetensors":
        return safe_torch_load(path, mmap=mmap)
    try:
        if mmap:
            with safe_open(path, "pt") as mapped:  # checks the header against the file's size
                return {name: mapped.get_slice(name) for name in mapped.keys()}  # noqa: SIM118
        return load_file(path)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({err}): download it again"
        ) from err


def check_huggingface_weights(folder: str | Path) -> None:
    """Refuse, before a run starts from it, a weight file that would be refused when read
    (pickled code, a truncated or foreign file): only its header and index are read."""
    read_weight_file(Path(folder), mmap=True)


def read_huggingface_config(folder: str | Path) -> GPTConfig:
    """The config of a Hugging Face GPT-2 folder, no weights read."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"Hugging Face folder {folder} is missing config.json: download the model files too"
        )
    hf_config = read_settings_json(folder / "config.json", SIZES, CONFIG_FIX)
    check_computed_as_here(hf_config, folder / "config.json")
    return config_from_hf(hf_config)


def read_huggingface(folder: str | Path) -> Pretrained:
    """Weights and config of a Hugging Face GPT-2 folder."""
    folder = Path(folder)
    config = read_huggingface_config(folder)
    hf_state = read_weight_file(folder)
    state = {}
    for hf_name, tensor in tqdm(hf_state.items(), desc="converting HF tensors", unit="tensor", leave=False):
        # A tied head, when a file holds it anyway, is a copy of wte.
        if hf_name.endswith(SKIPPED_SUFFIXES) or (hf_name.endswith(HEAD) and config.tie_embeddings):
            continue
        name = hf_name.removeprefix(PREFIX)
        state[name] = tensor.T.contiguous() if is_conv1d_weight(name) else tensor
    return fitting_pretrained(config, state, f"Hugging Face folder {folder}")


def write_huggingface(model: GPT, folder: str | Path) -> Path:
    """Export ``model`` as ``config.json`` + ``model.safetensors`` in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Whole files or none: a full disk must not leave an earlier export half overwritten.
    weights = save(huggingface_state(model), metadata={"format": "pt"})
    config_path = folder / EXPORTED_CONFIG
    mark_export_started(config_path, folder / EXPORTED_WEIGHTS)

    def write_weights(f: BinaryIO) -> None:
        f.write(weights)
        # config.json makes the folder a Hugging Face model: an old one must not describe the new weights.
        config_path.unlink(missing_ok=True)

    config = json.dumps(hf_config_from(model.config), indent=2) + "\n"
    try:
        atomic_write(folder / EXPORTED_WEIGHTS, write_weights)
        atomic_write(config_path, lambda f: f.write(config.encode()))  # its rename ends the mark, too
    except BaseException:
        temporary_path(config_path).unlink(missing_ok=True)  # a reported failure, not a killed export
        raise
    return folder


def huggingface_state(model: GPT) -> dict[str, torch.Tensor]:
    """``model``'s tensors under GPT2LMHeadModel's names and layouts."""
    hf_state = {}
    # named_parameters() skips a tied lm_head, which Hugging Face also leaves out of the file.
    for name, param in tqdm(list(model.named_parameters()), desc="exporting", unit="tensor", leave=False):
        tensor = param.detach().cpu()
        # GPT2LMHeadModel holds its head beside `transformer`, so an untied one has no prefix.
        hf_name = name if name == HEAD else PREFIX + name
        if name in ("wte.weight", HEAD):
            tensor = tensor[: model.config.vocab_size]  # padding rows are never produced: not exported
        hf_state[hf_name] = (tensor.T if is_conv1d_weight(name) else tensor).contiguous()
    if not model.config.qkv_bias:
        # GPT2Model always has query/key/value biases: zero biases compute the same function.
        for layer, block in enumerate(model.h):
            hf_state[f"{PREFIX}h.{layer}.attn.c_attn.bias"] = torch.zeros(block.attn.c_attn.out_features)
    return hf_state


def mark_export_started(config_path: Path, first_file: Path) -> None:
    """Leave config.json's temporary (``atomic_write``'s name) until config.json is in place:
    after a kill it tells the rerun that the files there are a killed export's, which it may
    replace without ``--overwrite`` (:func:`interrupted_export`)."""
    try:
        temporary_path(config_path).touch()
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(first_file)) from None  # the file the user asked for


def interrupted_export(folder: Path) -> bool:
    """Whether an export into ``folder`` was killed before its config.json was in place."""
    return bool(killed_writes(folder / EXPORTED_CONFIG))
