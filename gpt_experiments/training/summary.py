"""What a finished run prints last: where everything is, how well it did, and what to run next."""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from gpt_experiments.runs.history import perplexity

# Characters a Hydra override value may hold unquoted (``=`` and ``,`` would split it).
_PLAIN_HYDRA_VALUE = re.compile(r"[\w./-]+")


@dataclass
class RunSummary:
    run_dir: Path
    best_checkpoint: Path | None
    best_val_loss: float  # NaN: never validated
    tokens_seen: int
    wall_time_s: float  # the whole fit, validation included
    tokens_per_sec: float  # training tokens / training time (NaN without a speed monitor)
    compare_dir: Path  # the sweep folder for a sweep's job, the run folder otherwise


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def hydra_arg(key: str, path: Path) -> str:
    """``key=path`` as one shell word that Hydra reads as one value (run folders hold ``=`` and ``,``)."""
    value = shown(path)
    if _PLAIN_HYDRA_VALUE.fullmatch(value):
        return f"{key}={value}"
    if not set(value) & set("\"'$`\\!"):
        return f"\"{key}='{value}'\""  # the shell drops the double quotes, Hydra the single ones
    return shlex.quote(f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")


def format_summary(summary: RunSummary) -> str:
    lines = [f"Run folder:       {shown(summary.run_dir)}"]
    if summary.best_checkpoint is not None and not math.isnan(summary.best_val_loss):
        lines.append(
            f"Best checkpoint:  {shown(summary.best_checkpoint)} "
            f"(val loss {summary.best_val_loss:.4f}, perplexity {perplexity(summary.best_val_loss):,.2f})"
        )
    speed = "" if math.isnan(summary.tokens_per_sec) else f", {summary.tokens_per_sec:,.0f} tokens/s training"
    lines.append(f"Trained on:       {summary.tokens_seen:,} tokens in {summary.wall_time_s:,.1f} s{speed}")
    lines.append(f"TensorBoard:      tensorboard --logdir {shlex.quote(shown(summary.compare_dir))}")
    lines.append(
        f"Compare runs:     python scripts/compare_runs.py {shlex.quote(shown(summary.compare_dir))}"
    )
    if summary.best_checkpoint is not None:
        ckpt = hydra_arg("ckpt", summary.best_checkpoint)
        prompt = shlex.quote('prompt="Every effort moves you"')
        lines.append(f"Generate:         python scripts/generate.py {ckpt} {prompt}")
    return "\n".join(lines)
