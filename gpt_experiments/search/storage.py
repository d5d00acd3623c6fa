"""Where a study lives: an Optuna journal file (a path) or a database (a URL such as ``sqlite:///...``).

A journal file needs no database and can be shared by processes on one machine (and on
a shared file system), which is what parallel trials in joblib workers do.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend


def open_storage(spec: str) -> str | BaseStorage:
    """The storage ``spec`` names: a database URL as is, anything else as a journal file path."""
    if "://" in spec:
        return spec
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(spec)))


def load_trial(storage: str, study_name: str, number: int, pruner: optuna.pruners.BasePruner) -> optuna.Trial:
    """Trial ``number`` of a stored study, to report to from any process (the job's own worker)."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage), pruner=pruner)
    # Optuna has no public lookup of a trial by number outside the process that asked for it.
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.Trial(study, trial_id)
