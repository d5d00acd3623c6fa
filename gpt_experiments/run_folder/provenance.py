"""``provenance.json``: what produced a run, so two runs made months apart can be told apart.

Written when the run starts (the code's git state, the software and machine, the command as
typed), completed when it ends (the resolved automatic settings, the data's digest, the end
time and how it ended); a resume of the run in its folder adds an entry to ``resumes`` with
the same fields. Uncommitted changes are saved beside it as ``code.diff`` (size-capped,
untracked files listed). Costs a few git calls and no imports of torch or Lightning, so it
adds well under a second to a run's start (docs/trackers.md has the figure).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PROVENANCE_FILE = "provenance.json"
CODE_DIFF_FILE = "code.diff"
# A diff larger than this is cut: the commit and the list of changed files still say what changed.
DIFF_LIMIT_BYTES = 1_000_000
# A git call that hangs (a network file system, a locked index) must not hold up the run.
GIT_TIMEOUT_S = 5.0
# The checkout this package was imported from, when it is one (an editable install, a clone).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_NAME = "gpt-experiments"
# The libraries whose versions change results or how runs are stored (distribution names).
LIBRARIES = ("torch", "lightning", "hydra-core", "omegaconf", "tiktoken", "numpy")
# The command as typed, kept by the train command before it rewrites sys.argv (resume=, a
# sweep's fixed keys): see remember_command.
_typed_command: list[str] = []


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git(code_dir: Path, *args: str) -> str:
    """The output of ``git args`` in ``code_dir``; ``OSError`` if git is missing, fails or hangs."""
    try:
        done = subprocess.run(
            ["git", "-C", str(code_dir), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            errors="replace",
        )
    except subprocess.TimeoutExpired as err:
        raise OSError(f"git {args[0]} took over {GIT_TIMEOUT_S:g} s") from err
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"git {args[0]} failed")
    return done.stdout


def installed_version() -> str | None:
    try:
        return importlib.metadata.version(PACKAGE_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None


def code_state(code_dir: Path, diff_path: Path) -> dict[str, Any]:
    """The commit, branch and dirty flag of the checkout at ``code_dir``, its uncommitted changes
    written to ``diff_path``; for an install that is no checkout (a wheel), the package version.

    Only ``code_dir`` itself counts as a checkout: a wheel installed into a virtual environment
    that lives inside some repository must not report that repository's commit.
    """
    if not (code_dir / ".git").exists():
        return {"git": "not a git checkout", "package_version": installed_version()}
    try:
        # One call gives the commit, the branch and every changed or untracked file.
        status = git(code_dir, "status", "--porcelain=v2", "--branch", "--untracked-files=all").splitlines()
        changes = [line for line in status if not line.startswith("#")]
        diff = git(code_dir, "diff", "HEAD", "--no-ext-diff", "--no-color") if changes else ""
    except OSError as err:  # git missing, hanging or refusing (e.g. a repository of another user)
        return {"git": f"unreadable: {err}", "package_version": installed_version()}
    headers = dict(line[2:].split(" ", 1) for line in status if line.startswith("# ") and " " in line[2:])
    state: dict[str, Any] = {
        "commit": headers.get("branch.oid"),
        "branch": headers.get("branch.head"),  # "(detached)" for a checked-out commit
        "dirty": bool(changes),
        "package_version": installed_version(),
    }
    if changes:
        state["diff_file"] = diff_path.name
        state["changed_files"] = len(changes)
        write_diff(diff_path, diff, [line[2:] for line in changes if line.startswith("? ")])
    return state


def write_diff(path: Path, diff: str, untracked: list[str]) -> None:
    """The diff, cut at ``DIFF_LIMIT_BYTES``, after the list of untracked files (not in a diff)."""
    header = "".join(f"# untracked: {name}\n" for name in untracked)
    data = diff.encode()
    if len(data) > DIFF_LIMIT_BYTES:
        cut = data[:DIFF_LIMIT_BYTES].decode(errors="ignore")
        diff = f"{cut}\n# cut at {DIFF_LIMIT_BYTES:,} of {len(data):,} bytes\n"
    replace_text(path, header + diff)


def library_versions() -> dict[str, str | None]:
    """Python's version and each library's installed one (None if it is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's marketing name (``platform.processor()`` is only the architecture on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def command_as_typed(argv: list[str]) -> list[str]:
    """Python's own command line (interpreter, its options, ``-m`` or the script) when it ran
    ``argv``; else this interpreter and ``argv`` (a command run from inside another Python
    process, as the tests' preloaded processes do)."""
    original = list(getattr(sys, "orig_argv", []))
    args = argv[1:]
    if len(original) > len(args) and original[len(original) - len(args) :] == args:
        return original
    return [sys.executable, *argv]


def remember_command(argv: list[str]) -> None:
    """Keep ``argv`` as typed, before the command line is rewritten, for the record to save."""
    _typed_command[:] = command_as_typed(argv)


def start_leg(code_dir: Path, run_dir: Path, diff_name: str) -> dict[str, Any]:
    """What is known when a run (or one resume of it) starts."""
    return {
        "started_utc": utc_now(),
        "command": list(_typed_command) or command_as_typed(sys.argv),
        "cwd": os.getcwd(),
        "code": code_state(code_dir, run_dir / diff_name),
        "versions": library_versions(),
        "machine": machine(),
        "outcome": "running",
    }


def read_provenance(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's record, or None for a run without one (older runs) or an unreadable one."""
    try:
        record = json.loads((Path(run_dir) / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: through a temporary file, removed if the write fails
    (a full disk), renamed over ``path`` once complete."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_provenance(run_dir: Path, record: dict[str, Any]) -> None:
    """Replace the record whole: a reader never sees half of it."""
    replace_text(run_dir / PROVENANCE_FILE, json.dumps(record, indent=2, default=str) + "\n")


def record_start(run_dir: str | Path, code_dir: Path = PACKAGE_ROOT) -> dict[str, Any]:
    """Write the start of the record, or add a resume to the one the run's folder holds."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = read_provenance(run_dir)
    if record is None:
        record = {**start_leg(code_dir, run_dir, CODE_DIFF_FILE), "resumes": []}
    else:
        resume = len(record.setdefault("resumes", [])) + 1
        record["resumes"].append(start_leg(code_dir, run_dir, f"code.resume{resume}.diff"))
    write_provenance(run_dir, record)
    return record


def current_leg(record: dict[str, Any]) -> dict[str, Any]:
    """The part of the record this process writes: the last resume, or the run itself."""
    return record["resumes"][-1] if record.get("resumes") else record


def update_current_leg(run_dir: str | Path, **values: Any) -> None:
    """Add ``values`` (resolved settings, the data's digest, the end) to this leg of the record."""
    record = read_provenance(run_dir)
    if record is None:
        return  # the start was never written (not rank zero, or the folder became unwritable)
    current_leg(record).update(values)
    write_provenance(Path(run_dir), record)


def record_end(run_dir: str | Path, outcome: str) -> None:
    """``outcome``: finished, failed, interrupted or pruned."""
    update_current_leg(run_dir, ended_utc=utc_now(), outcome=outcome)


def legs(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's start and each resume, in order."""
    return [record, *record.get("resumes", [])]
