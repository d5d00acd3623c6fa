"""Which settings change what a run learns, in one list that every command shares.

Two runs are the same *setting* when their configs agree on every key outside
``RESULT_NEUTRAL_KEYS`` and the seed: where files go, how progress is shown and how a run was
started or continued never change a loss. Run folder names, ``resume=auto``, the HParams
table, ``compare_runs`` and the Optuna search all decide "same or different" with this list.
"""

from __future__ import annotations

from typing import Any

# Where files go, how a run is shown or tracked, and how it was started or continued.
RESULT_NEUTRAL_KEYS = (
    "hydra",
    "paths",
    "resume",
    "ckpt_path",
    "hparams_search",
    # An Optuna search's pruning callback: its trial number, seed and where the study is (the
    # search's bookkeeping, set by the sweeper). It only stops a run early, and a stopped run is
    # marked PRUNED and compared apart: a finished trial trained as any run.
    "callbacks.optuna_pruning",
    "trainer.default_root_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "data.cache_dir",
    "data.num_workers",
    "logger",
)
# The override that only repeats a run: runs that differ by it alone are one setting's samples.
SEED_KEY = "seed"
# How long to train: a finished run may be continued for longer (``resume=auto``), but runs
# of different lengths are different settings everywhere else.
LENGTH_KEYS = ("trainer.max_epochs", "trainer.max_steps")


def matches(key: str, prefixes: tuple[str, ...]) -> bool:
    """Whether dotted ``key`` is one of ``prefixes`` or lies below one (``paths.log_dir`` below ``paths``)."""
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in prefixes)


def is_result_neutral(key: str) -> bool:
    return matches(key, RESULT_NEUTRAL_KEYS)


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    items: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            items.update(flatten(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def result_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A plain config's dotted keys that decide its results: all but the neutral keys and the seed."""
    return {
        key: value for key, value in flatten(config).items() if key != SEED_KEY and not is_result_neutral(key)
    }
