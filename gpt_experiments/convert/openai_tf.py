"""Reading OpenAI's original GPT-2 release: a TensorFlow 1 checkpoint folder.

The folder holds ``hparams.json`` (``n_vocab n_ctx n_embd n_head n_layer``) and the
variables ``model/wte``, ``model/wpe``, ``model/ln_f/{g,b}`` and, per layer,
``model/hN/{ln_1,attn/c_attn,attn/c_proj,ln_2,mlp/c_fc,mlp/c_proj}/...``. Linear layers
are 1x1 convolutions with weights ``[1, in, out]``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gpt_experiments.convert.pretrained import (
    Pretrained,
    fitting_pretrained,
    is_conv1d_weight,
    read_settings_json,
    released_gpt2_config,
)
from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPTConfig

CHECKPOINT_PREFIX = "model.ckpt"
REQUIRED_FILES = ("hparams.json", f"{CHECKPOINT_PREFIX}.index", f"{CHECKPOINT_PREFIX}.data-00000-of-00001")
# OpenAI's leaf names: g(ain) and b(ias) of LayerNorms, w(eight) and b(ias) of convolutions.
LEAF_NAMES = {"g": "weight", "b": "bias", "w": "weight"}
HPARAMS = ("n_vocab", "n_ctx", "n_embd", "n_head", "n_layer")


def is_openai_folder(path: Path) -> bool:
    return path.is_dir() and (path / "hparams.json").is_file()


def config_from_hparams(hparams: dict) -> GPTConfig:
    return released_gpt2_config(
        vocab_size=hparams["n_vocab"],
        context_length=hparams["n_ctx"],
        emb_dim=hparams["n_embd"],
        n_heads=hparams["n_head"],
        n_layers=hparams["n_layer"],
    )


def project_name(tf_name: str) -> str:
    """``model/h3/attn/c_attn/w`` -> ``h.3.attn.c_attn.weight``; ``model/wte`` -> ``wte.weight``."""
    parts = tf_name.removeprefix("model/").split("/")
    if parts in (["wte"], ["wpe"]):
        return f"{parts[0]}.weight"
    if re.fullmatch(r"h\d+", parts[0]):
        parts[0:1] = ["h", parts[0][1:]]
    return ".".join([*parts[:-1], LEAF_NAMES[parts[-1]]])


def to_project_tensor(name: str, value: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(value)
    # Conv weights [1, in, out] -> nn.Linear weights [out, in].
    return tensor.squeeze(0).T.contiguous() if is_conv1d_weight(name) else tensor


def read_openai_config(folder: str | Path) -> GPTConfig:
    """The config of an OpenAI GPT-2 checkpoint folder, its files checked, no weights read."""
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(
            f"OpenAI checkpoint folder {folder} is missing {', '.join(missing)}: "
            "download it again with scripts/download_gpt2.py"
        )
    hparams = read_settings_json(
        folder / "hparams.json", HPARAMS, "download it again with scripts/download_gpt2.py"
    )
    return config_from_hparams(hparams)


def read_openai(folder: str | Path) -> Pretrained:
    """Weights and config of an OpenAI GPT-2 checkpoint folder (needs TensorFlow)."""
    folder = Path(folder)
    config = read_openai_config(folder)
    reader = open_tf_checkpoint(folder / CHECKPOINT_PREFIX)
    names = sorted(name for name in reader.get_variable_to_shape_map() if name.startswith("model/"))
    state = {}
    for tf_name in tqdm(names, desc="converting OpenAI tensors", unit="tensor", leave=False):
        name = project_name(tf_name)
        state[name] = to_project_tensor(name, reader.get_tensor(tf_name))
    return fitting_pretrained(config, state, f"OpenAI checkpoint {folder}")


def open_tf_checkpoint(prefix: Path):
    """A TensorFlow checkpoint reader; TensorFlow is imported here and nowhere else."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TensorFlow's start-up banner
    try:
        import tensorflow as tf
    except ImportError as err:
        raise CheckpointError(
            "reading OpenAI checkpoints needs TensorFlow: pip install 'gpt-experiments[tf]'"
        ) from err
    try:
        return tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(
            f"{prefix} is not a readable TensorFlow checkpoint ({type(err).__name__}): "
            "download it again with scripts/download_gpt2.py"
        ) from err
