"""Where a study lives: an Optuna journal file (a path) or a database (a URL such as ``sqlite:///...``).

A journal file needs no database and can be shared by processes on one machine (and on
a shared file system), which is what parallel trials in joblib workers do. It is a file of
JSON records, one a line, which Optuna appends to under a lock.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from gpt_experiments import library_internals as internals
from gpt_experiments.errors import ConfigError, warn

JOURNAL_FIX = "restore it from a backup, or pass hydra.sweeper.study_name=<new name> to start a new study"
# One job's val loss curve, kept with its trial as ``{"<step>": loss}``: one attribute per seed.
CURVE_ATTR_PREFIX = "val_loss_curve_seed="


def is_journal(spec: str) -> bool:
    return "://" not in spec


def open_storage(spec: str) -> str | BaseStorage:
    """The storage ``spec`` names: a database URL as is, anything else as a journal file path."""
    if not is_journal(spec):
        return spec
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    try:
        return JournalStorage(JournalFileBackend(str(spec)))  # replays every record
    except (KeyError, TypeError, IndexError, AssertionError, ValueError) as err:
        # Records that are JSON but not what Optuna wrote (edited, or bytes from another file).
        raise ConfigError(
            f"{spec}: a record Optuna cannot replay ({type(err).__name__}: {err}; the file is "
            f"damaged): {JOURNAL_FIX}"
        ) from None


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
            if not is_record(record):
                raise ConfigError(
                    f"{path}: line {number} is not a journal record (the file is damaged): delete that line, "
                    f"{JOURNAL_FIX}"
                )
        if tail:
            with path.open("r+b") as file:
                file.truncate(len(data) - len(tail))
            warn(
                f"{path}: dropped its last record, cut off by a killed write ({len(tail)} bytes, no line end)"
            )
    finally:
        lock.release()


def is_record(line: bytes) -> bool:
    """Whether ``line`` reads as one of Optuna's journal records: a JSON object with an
    operation code and the writer's id."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return isinstance(record, dict) and isinstance(record.get("op_code"), int) and "worker_id" in record


def find_trial(storage: str, study_name: str, number: int, pruner: optuna.pruners.BasePruner) -> optuna.Trial:
    """Trial ``number`` of a stored study, to report to from any process (the job's own worker)."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage), pruner=pruner)
    return optuna.Trial(study, internals.trial_id(study, number))


def report_seed(
    storage: str,
    study_name: str,
    number: int,
    pruner: optuna.pruners.BasePruner,
    seed: int,
    step: int,
    loss: float,
) -> bool:
    """Record one job's val loss at ``step`` (each seed's curve is kept as a user attribute);
    whether the pruner now stops the trial.

    A trial is judged by its first seed alone: every trial runs the same seeds in the same order,
    so its first seed's curve and the earlier trials' first seeds' curves are a paired comparison
    (a mean over the seeds so far would set one draw against others' means, and prune a setting
    against itself). Its later seeds run once the first has passed, and are not judged again.
    """
    trial = find_trial(storage, study_name, number, pruner)
    key = f"{CURVE_ATTR_PREFIX}{seed}"
    first_seed = not any(name.startswith(CURVE_ATTR_PREFIX) and name != key for name in trial.user_attrs)
    trial.storage.set_trial_user_attr(
        trial._trial_id, key, {**trial.user_attrs.get(key, {}), str(step): loss}
    )
    if not first_seed:
        return False
    trial.report(loss, step)
    return trial.should_prune()
