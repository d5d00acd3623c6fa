"""What a finished run prints last: where everything is, how well it did, and what to run next."""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from gpt_experiments.config import typed_override
from gpt_experiments.run_folder.history import perplexity, write_summary_json

# The repository's scripts/, where a checkout or an editable install has it (a wheel has not).
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"
# The console scripts pyproject.toml installs beside the interpreter, for a wheel install.
CONSOLE_SCRIPTS = {"compare_runs.py": "gpt-compare", "generate.py": "gpt-generate"}


@dataclass
class RunSummary:
    run_dir: Path
    best_checkpoint: Path | None
    best_val_loss: float  # NaN: never validated
    tokens_seen: int
    # Seconds Trainer.fit ran (sanity check, validation, checkpoints included; imports, data
    # and model set-up before it left out), summed over the legs of a resumed run. Saved in
    # summary.json, it is also the wall time compare_runs reports.
    wall_time_s: float
    tokens_per_sec: float  # training tokens / training time (NaN without a speed monitor)
    compare_dir: Path  # the sweep folder for a sweep's job, the run folder otherwise
    # What a scaling fit reads (gpt_experiments/runs/scaling): the loss at the run's end,
    # its compute, its size, and whether it ran all its planned steps.
    final_val_loss: float = math.nan  # the last validation's; NaN: never validated
    final_val_step: int = -1  # the optimizer step of that validation (-1: none)
    train_flops: float = math.nan  # tokens_seen x FLOPs per token (model_flops.py)
    non_embedding_params: int = 0  # N of model_flops.py
    steps: int = 0  # optimizer steps done
    max_steps: int = -1  # the steps planned (-1: epoch-limited); fewer done: it stopped early


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def interpreter() -> str:
    """This Python, absolute but not resolved: a venv's ``bin/python`` link keeps its packages."""
    return str(Path(sys.executable).absolute())


def script_command(script: str) -> list[str]:
    """How to run one of scripts/ from anywhere: this Python and the script's absolute path,
    or its console script beside this Python when installed from a wheel."""
    if (SCRIPTS_DIR / script).is_file():
        return [interpreter(), str(SCRIPTS_DIR / script)]
    return [str(Path(interpreter()).parent / CONSOLE_SCRIPTS[script])]


def tensorboard_command() -> list[str]:
    """TensorBoard from anywhere: the executable beside this Python, else its module."""
    beside = Path(interpreter()).parent / "tensorboard"
    return [str(beside)] if beside.is_file() else [interpreter(), "-m", "tensorboard.main"]


def command(words: list[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def format_summary(summary: RunSummary) -> str:
    lines = [f"Run folder:       {shown(summary.run_dir)}"]
    if summary.best_checkpoint is not None and not math.isnan(summary.best_val_loss):
        lines.append(
            f"Best checkpoint:  {shown(summary.best_checkpoint)} "
            f"(val loss {summary.best_val_loss:.4f}, perplexity {perplexity(summary.best_val_loss):,.2f})"
        )
    speed = "" if math.isnan(summary.tokens_per_sec) else f", {summary.tokens_per_sec:,.0f} tokens/s training"
    flops = "" if math.isnan(summary.train_flops) else f", {summary.train_flops:.3g} training FLOPs"
    trained = f"{summary.tokens_seen:,} tokens in {summary.wall_time_s:,.1f} s{speed}{flops}"
    lines.append(f"Trained on:       {trained}")
    # Commands that work pasted anywhere: absolute interpreter, scripts and folders.
    compare_dir = str(summary.compare_dir.absolute())
    lines.append(f"TensorBoard:      {command([*tensorboard_command(), '--logdir', compare_dir])}")
    lines.append(f"Compare runs:     {command([*script_command('compare_runs.py'), compare_dir])}")
    if summary.best_checkpoint is not None:
        ckpt = typed_override("ckpt", summary.best_checkpoint.absolute())
        prompt = shlex.quote('prompt="Every effort moves you"')
        lines.append(f"Generate:         {command(script_command('generate.py'))} {ckpt} {prompt}")
    return "\n".join(lines)


def save_summary(summary: RunSummary) -> None:
    """The summary's numbers in the run folder's summary.json, for compare_runs."""
    values = {
        "best_val_loss": summary.best_val_loss,
        "final_val_loss": summary.final_val_loss,
        "final_val_step": summary.final_val_step,
        "tokens_seen": summary.tokens_seen,
        "train_flops": summary.train_flops,
        "non_embedding_params": summary.non_embedding_params,
        "steps": summary.steps,
        "max_steps": summary.max_steps,
        "wall_time_s": summary.wall_time_s,
        "tokens_per_sec": summary.tokens_per_sec,
    }
    write_summary_json(values, summary.run_dir)
