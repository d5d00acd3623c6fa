"""Recognising a checkpoint's format, reading it into the common :class:`Pretrained` form, writing it out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gpt_experiments.checkpoints.project import (
    checkpoint_model_config,
    find_checkpoint,
    load_model,
    load_tokenizer,
    safe_torch_load,
    save_model,
)
from gpt_experiments.convert.huggingface import (
    EXPORTED_CONFIG,
    EXPORTED_WEIGHTS,
    check_huggingface_weights,
    interrupted_export,
    is_huggingface_folder,
    read_huggingface,
    read_huggingface_config,
    write_huggingface,
)
from gpt_experiments.convert.openai_tf import is_openai_folder, read_openai, read_openai_config
from gpt_experiments.convert.pretrained import Pretrained, check_compatible, model_from_pretrained
from gpt_experiments.errors import CheckpointError, missing_reason
from gpt_experiments.files import check_outputs_free
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer import Tokenizer, gpt2


def read_project(path: str | Path) -> Pretrained:
    """A project checkpoint (file or run folder) in the common form."""
    model = load_model(path)
    # named_parameters() leaves out a tied lm_head, as the other readers do, and keeps an untied one.
    state = {name: param.detach() for name, param in model.named_parameters()}
    return Pretrained(config=model.config, state=state, source=f"checkpoint {find_checkpoint(path)}")


def read_project_config(path: str | Path) -> GPTConfig:
    file = find_checkpoint(path)
    return checkpoint_model_config(safe_torch_load(file, mmap=True), file)


READERS: dict[str, Callable[[str | Path], Pretrained]] = {
    "openai": read_openai,
    "huggingface": read_huggingface,
    "project": read_project,
}
# The same formats' configs alone: cheap, no weights read.
CONFIG_READERS: dict[str, Callable[[str | Path], GPTConfig]] = {
    "openai": read_openai_config,
    "huggingface": read_huggingface_config,
    "project": read_project_config,
}


def detect_format(path: str | Path) -> str:
    """``openai`` (has hparams.json), ``huggingface`` (has config.json), else ``project``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} {missing_reason(path)}: pass a checkpoint folder or file")
    if is_openai_folder(path):
        return "openai"
    if is_huggingface_folder(path):
        return "huggingface"
    return "project"


def known_format(path: str | Path, fmt: str) -> str:
    """``fmt``, or the detected format for ``auto``; an unknown one is a one-line error."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in READERS:
        raise CheckpointError(f"unknown checkpoint format {fmt!r}: use one of auto, {', '.join(READERS)}")
    return fmt


def read_pretrained(path: str | Path, fmt: str = "auto") -> Pretrained:
    """Read a checkpoint of format ``fmt`` (one of :data:`READERS`, or ``auto`` to detect it)."""
    return READERS[known_format(path, fmt)](path)


def check_pretrained_fits(path: str | Path, fmt: str, model_config: GPTConfig) -> None:
    """A run about to start from ``path`` (``init=``) stops here, before any folder is made,
    if the checkpoint cannot go into a model of ``model_config``. Reads its settings only."""
    fmt = known_format(path, fmt)
    check_compatible(model_config, CONFIG_READERS[fmt](path), f"{fmt} checkpoint {path}")
    if fmt == "huggingface":  # a project checkpoint's weights were read with its config
        check_huggingface_weights(path)


def load_any_model(path: str | Path, fmt: str = "auto") -> GPT:
    """A GPT in eval mode from a checkpoint of any supported format."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "project":
        return load_model(path)  # already a GPT, untied head included
    return model_from_pretrained(read_pretrained(path, fmt))


def load_any_tokenizer(path: str | Path, fmt: str = "auto") -> Tokenizer:
    """The tokenizer that goes with a checkpoint: saved in a project one; GPT-2's for OpenAI/Hugging Face."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    return load_tokenizer(path) if fmt == "project" else gpt2()


WRITERS: dict[str, Callable[[GPT, str | Path], Path]] = {
    "project": save_model,
    "huggingface": write_huggingface,
}


def check_destination(dest: Path, to: str, overwrite: bool) -> None:
    """``dest`` may be replaced only with ``overwrite``: a project checkpoint is one file, a
    Hugging Face export two files in a folder."""
    if to == "project":
        check_outputs_free([dest], overwrite)
    else:
        # What a killed export left is no one's finished file: the rerun replaces it.
        replace = overwrite or interrupted_export(dest)
        check_outputs_free([dest / EXPORTED_WEIGHTS, dest / EXPORTED_CONFIG], replace, folder=dest)


def convert(
    source: str | Path, dest: str | Path, to: str, fmt: str = "auto", overwrite: bool = False
) -> Path:
    """Read ``source`` (format ``fmt``) and write it to ``dest`` in format ``to`` (one of :data:`WRITERS`);
    files already at ``dest`` are replaced only with ``overwrite``."""
    if to not in WRITERS:
        raise CheckpointError(f"cannot write format {to!r}: use one of {', '.join(WRITERS)}")
    check_destination(Path(dest), to, overwrite)
    if to != "project" and (tokenizer := load_any_tokenizer(source, fmt)).kind != "gpt2":
        raise CheckpointError(
            f"{source} was trained with {tokenizer.describe()}, but GPT-2 formats assume GPT-2's "
            "tokenizer: keep it a project checkpoint (--to project), or train with tokenizer=gpt2"
        )
    if to == "project":  # keeps the tokenizer the model was trained with
        return save_model(
            load_any_model(source, fmt), dest, tokenizer=load_any_tokenizer(source, fmt).to_dict()
        )
    model = load_any_model(source, fmt)
    if departures := model.config.non_gpt2_parts():
        raise CheckpointError(
            f"{source} has parts GPT-2's formats cannot hold ({' '.join(departures)}): "
            "keep it a project checkpoint (--to project), which generate.py and evaluate.py read"
        )
    return WRITERS[to](model, dest)
