"""The trackers a run can log to (``logger=tensorboard|csv|mlflow|wandb|many``), all alike.

Each is Lightning's logger with the same three additions (:class:`RunLogger`): scalars at the
optimizer steps done, without Lightning's ``epoch`` scalar; the run's settings with the swept
keys; and the run's provenance record, as the tracker keeps such things (MLflow tags, a W&B
config entry, TensorBoard's Text tab, the CSV logger's hparams.yaml). MLflow and W&B are
optional installs: each class names its package, and the config checks refuse a tracker
whose package is missing before any folder is made.
"""

from __future__ import annotations

import json
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments.errors import warn

# MLflow's own tag for the commit, which its UI shows in the run's "Source" column.
MLFLOW_COMMIT_TAG = "mlflow.source.git.commit"
# The local store's database, in the store folder.
MLFLOW_DATABASE = "mlflow.db"
# MLflow refuses longer tag values.
MLFLOW_TAG_LIMIT = 5000


def flat(record: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"code": {"commit": "ab"}}`` as ``{"code.commit": "ab"}``; lists as JSON text."""
    items: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.update(flat(value, f"{name}."))
        else:
            items[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return items


class RunLogger:
    """What every tracker of a run adds to its Lightning logger (a mixin listed first).

    Lightning logs a step's values, and the validation after it, under the steps done *before*
    that step (3 after the 4th), while history.csv, checkpoint names, the images and the text
    samples carry the steps done (4). Once it follows the run's trainer (``LogEveryEpoch`` sees to
    it), a run logger uses ``trainer.global_step`` too: one moment, one step, in every artefact
    and every tracker. The ``epoch`` scalar (0-based, while the console counts epochs from 1)
    is left out; the run's epochs are in history.csv.
    """

    # The module a tracker needs beyond the project's dependencies, and the pip extra that has it.
    needs_package: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer: L.Trainer | None = None

    def follow(self, trainer: L.Trainer) -> None:
        self._trainer = trainer

    def __getstate__(self) -> dict[str, Any]:
        # Python 3.10's object has no __getstate__; Lightning's TensorBoard and W&B loggers do.
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_trainer": None}  # a copied logger follows its own trainer

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._trainer is not None:
            step = self._trainer.global_step
        super().log_metrics({name: value for name, value in metrics.items() if name != "epoch"}, step)

    def log_settings(self, params: dict[str, Any], swept: list[str]) -> None:
        """The run's settings (the HParams tab's), and which keys the sweep varies."""
        self.log_hyperparams({**params, "swept_keys": ",".join(key for key in swept if key in params)})

    def log_provenance(self, record: dict[str, Any]) -> None:
        """The run's provenance record, once, where this tracker keeps a run's description."""
        self.log_hyperparams({f"provenance.{key}": value for key, value in flat(record).items()})


class RunCSVLogger(RunLogger, CSVLogger):
    """``metrics.csv`` and ``hparams.yaml`` (settings and provenance) in a folder of the run."""


class RunMLFlowLogger(RunLogger, MLFlowLogger):
    """An MLflow run named after the run folder; the provenance as tags (the commit in MLflow's own).

    Without a ``tracking_uri``, runs go to a local store shared by every run: an SQLite database
    and the artifacts in ``store_dir`` (MLflow 3 refuses its older plain-file store by default).
    ``mlflow ui --backend-store-uri sqlite:///<store_dir>/mlflow.db`` shows them.
    """

    needs_package = "mlflow"

    def __init__(
        self,
        run_dir: str | None = None,
        store_dir: str = "mlruns",
        tracking_uri: str | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if tracking_uri is None:
            store = Path(store_dir).absolute()
            store.mkdir(parents=True, exist_ok=True)
            tracking_uri = f"sqlite:///{store / MLFLOW_DATABASE}"
            kwargs.setdefault("artifact_location", (store / "artifacts").as_uri())
        run_name = run_name or (Path(run_dir).name if run_dir else None)
        super().__init__(tracking_uri=tracking_uri, run_name=run_name, **kwargs)

    def log_provenance(self, record: dict[str, Any]) -> None:
        tags = {f"provenance.{key}": value for key, value in flat(record).items()}
        commit = (record.get("code") or {}).get("commit")
        if commit:
            tags[MLFLOW_COMMIT_TAG] = commit
        for key, value in tags.items():
            self.experiment.set_tag(self.run_id, key, value[:MLFLOW_TAG_LIMIT])


def wandb_logged_in() -> bool:
    """Whether W&B has an API key: ``WANDB_API_KEY`` or the netrc entry ``wandb login`` writes."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class RunWandbLogger(RunLogger, WandbLogger):
    """A W&B run, offline (files under the run folder, ``wandb sync`` uploads them later) unless a
    ``project`` is set and W&B has an API key; the provenance in the run's config."""

    needs_package = "wandb"

    def __init__(
        self, run_dir: str | None = None, project: str | None = None, name: str | None = None, **kwargs: Any
    ) -> None:
        name = name or (Path(run_dir).name if run_dir else None)
        online = project is not None and wandb_logged_in()
        if project is not None and not online:
            warn(f"logger.project={project} is set but W&B has no API key (`wandb login`): logging offline")
        super().__init__(project=project or "gpt-experiments", name=name, offline=not online, **kwargs)

    def log_provenance(self, record: dict[str, Any]) -> None:
        self.experiment.config.update({"provenance": record}, allow_val_change=True)
