"""The seed's figures: loss (and perplexity) against epochs, with tokens seen on a second axis."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(
    epochs: Sequence[float],
    tokens_seen: Sequence[int],
    curves: dict[str, Sequence[float]],
    ylabel: str,
    path: Path,
) -> None:
    """One line per named curve against epochs; the top axis shows tokens seen."""
    fig, ax_epochs = plt.subplots(figsize=(6, 3.5))
    for (label, values), style in zip(curves.items(), ("-", "-.", ":", "--"), strict=False):
        ax_epochs.plot(epochs, values, linestyle=style, label=label)
    ax_epochs.set_xlabel("Epochs")
    ax_epochs.set_ylabel(ylabel)
    ax_epochs.legend(loc="upper right")
    ax_tokens = ax_epochs.twiny()
    ax_tokens.plot(tokens_seen, next(iter(curves.values())), alpha=0)  # invisible: aligns the ticks
    ax_tokens.set_xlabel("Tokens seen")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
