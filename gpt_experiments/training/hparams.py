"""What a run shows in TensorBoard's HParams tab: the settings that answer "which was better?".

Logged: the keys set on the command line (in a sweep, the swept ones first, marked as
differing, so they are the table's first columns), then a short fixed set that says what
was trained (model size, learning rate, batch size, context length, precision).
Never paths or run-specific switches. The metrics are declared here without a value; the
module and the speed monitor log them as scalars as the run goes, and the plugin shows
each one's last value.

Every job of a sweep declares the same keys (its overrides have the same keys), which
matters: TensorBoard takes the column list from the first run it reads. Runs of one setting
(the same result settings, any seed) share one session group, so the table shows them together.

The summaries are built from the plugin's public protobufs here because neither ready-made
builder covers them: ``torch.utils.tensorboard``'s ``hparams()`` sets no session group, no
``differs`` flag, no start time and always ends a session as a success, and
``tensorboard.plugins.hparams.summary``, which does, imports TensorFlow (25.7 s against 1.3 s
for the protobufs alone, measured on the 2-core CI-like machine).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from gpt_experiments.result_keys import RESULT_NEUTRAL_KEYS, SEED_KEY, matches
from gpt_experiments.training.compose import resolved_result_settings
from gpt_experiments.training.lit_module import VALIDATION_HPARAMS_METRICS

# Declared metrics: best and last validation loss and perplexity, tokens trained on, speed.
HPARAMS_METRICS = (*VALIDATION_HPARAMS_METRICS, "run/tokens_per_sec")
# Always logged after the command-line keys: what was trained, and how.
FIXED_KEYS = (
    "model.n_layers",
    "model.emb_dim",
    "model.context_length",
    "optimizer.lr",
    "data.batch_size",
    "trainer.precision",
)
# Set on a command line, but not hyperparameters: what never changes results, the data's path
# (a machine-specific spelling of the data; its content is what matters), and the seed: a row of
# the table is a setting, and shows one of its runs' values (each run's seed is in its name).
NOT_HPARAMS = (*RESULT_NEUTRAL_KEYS, "data.path", SEED_KEY)


@dataclass
class CommandLine:
    """A run's command-line overrides; ``swept``: the keys that set it apart (in a sweep, those
    that vary between the jobs; in a single run, every key set on its command line)."""

    overrides: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    model_option: str | None = None  # the ``model=`` group option, e.g. "tiny"


def command_line_of_job(hydra_cfg: DictConfig) -> CommandLine:
    """From a job's Hydra config: its keys not in ``exclude_keys`` (in a sweep,
    ``scripts/train.py`` adds the keys fixed for the whole sweep there)."""
    overrides = list(hydra_cfg.overrides.task)
    excluded = set(hydra_cfg.job.config.override_dirname.exclude_keys)
    swept = [key for key, _ in parse(overrides) if key not in excluded]
    return CommandLine(overrides, swept, hydra_cfg.runtime.choices.get("model"))


def parse(overrides: list[str]) -> list[tuple[str, Any]]:
    """``[(key, value)]`` of overrides, keys without their ``+``/``~`` prefix."""
    return [(o.key_or_group, o.value()) for o in OverridesParser.create().parse_overrides(overrides)]


def is_hparam(key: str, value: Any) -> bool:
    is_path = isinstance(value, str) and ("/" in value or "\\" in value)
    return not is_path and not matches(key, NOT_HPARAMS)


def hparam_value(value: Any) -> float | str | bool:
    if isinstance(value, bool | int | float | str):
        return value
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return str(value)


def select_hparams(cfg: DictConfig, command_line: CommandLine) -> dict[str, float | str | bool]:
    """The run's HParams, swept keys first; a group override (``model=tiny``) logs its option name."""
    set_keys = [(key, value) for key, value in parse(command_line.overrides) if is_hparam(key, value)]
    ordered = sorted(set_keys, key=lambda item: item[0] not in command_line.swept)  # stable: swept first
    params: dict[str, float | str | bool] = {}
    for key, override_value in ordered:
        node = OmegaConf.select(cfg, key)
        params[key] = hparam_value(override_value if isinstance(node, DictConfig) or node is None else node)
    if command_line.model_option is not None:
        params.setdefault("model", command_line.model_option)
    for key in FIXED_KEYS:
        if key not in params and OmegaConf.select(cfg, key) is not None:
            params[key] = hparam_value(OmegaConf.select(cfg, key))
    return params


def setting_group_name(cfg: DictConfig) -> str:
    """The HParams session group of a run: a hash of its resolved result settings, the same for
    every seed of a setting (and for its runs in other sweeps), different for anything else."""
    settings = json.dumps(resolved_result_settings(cfg), sort_keys=True, default=str)
    return f"setting {hashlib.sha256(settings.encode()).hexdigest()[:10]}"


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def hparams_summaries(params: dict[str, Any], swept: list[str], group_name: str) -> list[Summary]:
    """The experiment (columns) and session start (this run's values) summaries of the HParams plugin."""
    infos = [api_pb2.HParamInfo(name=name, differs=name in swept) for name in params]
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in HPARAMS_METRICS]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    start = plugin_data_pb2.SessionStartInfo(group_name=group_name, start_time_secs=time.time())
    for name, value in params.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = value
    return [
        _summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        _summary(
            metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)
        ),
    ]


def session_end_summary(succeeded: bool) -> Summary:
    status = api_pb2.STATUS_SUCCESS if succeeded else api_pb2.STATUS_FAILURE
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    return _summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))
