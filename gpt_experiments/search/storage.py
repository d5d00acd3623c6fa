"""Where a study lives: an Optuna journal file (a path) or a database (a URL such as ``sqlite:///...``).

A journal file needs no database and can be shared by processes on one machine (and on
a shared file system), which is what parallel trials in joblib workers do. It is a file of
JSON records, one a line, which Optuna appends to under a lock.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from gpt_experiments.errors import ConfigError, warn

# One job's val loss curve, kept with its trial as ``{"<step>": loss}``: one attribute per seed.
CURVE_ATTR_PREFIX = "val_loss_curve_seed="


def is_journal(spec: str) -> bool:
    return "://" not in spec


def open_storage(spec: str) -> str | BaseStorage:
    """The storage ``spec`` names: a database URL as is, anything else as a journal file path."""
    if not is_journal(spec):
        return spec
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(spec)))


def repair_journal(path: Path) -> None:
    """Drop a record cut off by a killed write at the end of a journal, before anything is appended.

    Optuna skips such a last line when reading, but appends the next record onto it, which leaves
    an unreadable line in the middle: the study would no longer load. A damaged line anywhere
    else is reported (one line: file, line number, fix) and nothing is changed. Runs under the
    journal's own lock, so no other process appends meanwhile.
    """
    if not path.is_file():
        return
    lock = JournalFileSymlinkLock(str(path))  # the lock Optuna's JournalFileBackend takes by default
    lock.acquire()
    try:
        data = path.read_bytes()
        *records, tail = data.split(b"\n")  # tail: what follows the last newline
        for number, record in enumerate(records, start=1):
            if not is_json(record):
                raise ConfigError(
                    f"{path}: line {number} is not a journal record (the file is damaged): restore it "
                    f"from a backup or delete that line, or pass hydra.sweeper.study_name=<new name> "
                    f"to start a new study"
                )
        if tail:
            with path.open("r+b") as file:
                file.truncate(len(data) - len(tail))
            warn(
                f"{path}: dropped its last record, cut off by a killed write ({len(tail)} bytes, no line end)"
            )
    finally:
        lock.release()


def is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return True


def find_trial(storage: str, study_name: str, number: int, pruner: optuna.pruners.BasePruner) -> optuna.Trial:
    """Trial ``number`` of a stored study, to report to from any process (the job's own worker)."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage), pruner=pruner)
    # Optuna has no public lookup of a trial by number outside the process that asked for it.
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.Trial(study, trial_id)


def report_seed(
    storage: str,
    study_name: str,
    number: int,
    pruner: optuna.pruners.BasePruner,
    seed: int,
    step: int,
    loss: float,
) -> bool:
    """Record one job's val loss at ``step``; whether the pruner now stops the trial.

    The trial's intermediate value at a step is the mean over its seeds that have reached that
    step (each seed's curve is kept as a user attribute), so the pruner judges a trial run over
    several seeds by the mean so far, as it judges finished trials by their means.
    """
    trial = find_trial(storage, study_name, number, pruner)
    key = f"{CURVE_ATTR_PREFIX}{seed}"
    curve = {**trial.user_attrs.get(key, {}), str(step): loss}
    trial.storage.set_trial_user_attr(trial._trial_id, key, curve)
    curves = [c for name, c in trial.user_attrs.items() if name.startswith(CURVE_ATTR_PREFIX) and name != key]
    at_step = [c[str(step)] for c in curves if str(step) in c] + [loss]
    mean = math.fsum(at_step) / len(at_step)
    # Trial.report keeps the first value of a step; later seeds update the mean, so set it directly.
    trial.storage.set_trial_intermediate_value(trial._trial_id, step, mean)
    return find_trial(storage, study_name, number, pruner).should_prune()
