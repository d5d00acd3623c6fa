"""Reading back what each tracker stored: an MLflow tracking server started for a test, the
files of an offline W&B run, the CSV logger's metrics.csv, as ``{metric: [(step, value)]}``."""

from __future__ import annotations

import csv
import json
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.tensorboard_server import free_port, local_server

# The .wandb file: a header, then 32 KiB blocks of chunks (LevelDB's log format), each chunk a
# CRC32, a length and a type (full record, or its first, middle or last part).
WANDB_HEADER_BYTES = 7
WANDB_BLOCK_BYTES = 32768
WANDB_CHUNK_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# Lightning adds the step to each W&B history row under this key; W&B adds _step, _runtime...
WANDB_STEP_KEY = "trainer/global_step"

Series = dict[str, list[tuple[int, float]]]


@contextmanager
def serve_mlflow(folder: Path, timeout_s: float = 120) -> Iterator[str]:
    """``mlflow server`` on a free 127.0.0.1 port, its store (SQLite) and artifacts in ``folder``;
    yields its URL; always stops it."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--workers", "1"]
    command += ["--artifacts-destination", str(folder / "artifacts")]
    url = f"http://127.0.0.1:{port}"
    with local_server(command, f"{url}/health", timeout_s, log=folder / "server.log"):
        yield url


def mlflow_run(tracking_uri: str, experiment: str = "gpt-experiments") -> tuple[Any, Series]:
    """The only run of ``experiment`` (MLflow's ``Run``) and its metrics' histories."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    series = {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        for key in run.data.metrics
    }
    return run, series


def wandb_records(run_file: Path) -> Iterator[Any]:
    """Every record (W&B's ``Record`` protobuf) of an offline run's ``run-<id>.wandb`` file."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    position, parts = WANDB_HEADER_BYTES, []
    while position + WANDB_CHUNK_HEADER.size <= len(data):
        left_in_block = WANDB_BLOCK_BYTES - position % WANDB_BLOCK_BYTES
        if left_in_block < WANDB_CHUNK_HEADER.size:  # a block's tail too short for a chunk: padding
            position += left_in_block
            continue
        _, length, kind = WANDB_CHUNK_HEADER.unpack_from(data, position)
        position += WANDB_CHUNK_HEADER.size
        parts.append(data[position : position + length])
        position += length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            parts = []
            yield record


def wandb_run(run_dir: Path) -> tuple[dict[str, Any], Series]:
    """An offline W&B run under ``run_dir/wandb``: its config (JSON values) and metric histories."""
    [run_file] = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    config: dict[str, Any] = {}
    series: Series = {}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            row = {
                item.nested_key[0] if item.nested_key else item.key: item.value_json
                for item in record.history.item
            }
            step = int(json.loads(row.pop(WANDB_STEP_KEY)))
            for key, value in row.items():
                if not key.startswith("_"):
                    series.setdefault(key, []).append((step, float(json.loads(value))))
    return config, {key: sorted(points) for key, points in series.items()}


def csv_metrics(path: Path) -> Series:
    """The CSV logger's metrics.csv: one row per logging call, a column per metric."""
    series: Series = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = int(row.pop("step"))
            for key, value in row.items():
                if value != "":
                    series.setdefault(key, []).append((step, float(value)))
    return {key: sorted(points) for key, points in series.items()}
