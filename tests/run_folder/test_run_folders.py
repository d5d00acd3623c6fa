"""Finding run folders: compare, scaling and resume=auto list the runs under a folder, links
to runs kept elsewhere included, each real run once, and a link loop ends."""

from __future__ import annotations

import os
from pathlib import Path

from gpt_experiments.run_folder.saved import RUN_CONFIG, run_folders_under
from gpt_experiments.runs.records import find_run_dirs
from gpt_experiments.training.resume import run_dirs


def make_run(folder: Path, started_ns: int) -> Path:
    (folder / RUN_CONFIG).parent.mkdir(parents=True)
    (folder / RUN_CONFIG).write_text("seed: 1\n")
    os.utime(folder / RUN_CONFIG, ns=(started_ns, started_ns))
    return folder


def test_links_to_runs_are_followed_once_and_a_loop_ends(tmp_path):
    sweep = tmp_path / "outputs" / "runs"
    own = make_run(sweep / "own", 3_000_000_000)
    kept = make_run(tmp_path / "archive" / "kept", 1_000_000_000)
    (sweep / "linked").symlink_to(kept)
    (sweep / "linked_again").symlink_to(kept)  # the same run through a second link
    (sweep / "loop").symlink_to(tmp_path)  # back up the tree, past the sweep itself
    (sweep / "not_a_run").mkdir()

    found = run_folders_under(sweep)
    assert len(found) == 2
    assert own in found
    assert {path.resolve() for path in found} == {own.resolve(), kept.resolve()}
    assert [path.resolve() for path in find_run_dirs(sweep)] == [kept.resolve(), own.resolve()]  # by start
    assert {path.resolve() for path in run_dirs(tmp_path / "outputs")} == {own.resolve(), kept.resolve()}


def test_the_folder_itself_can_be_the_run_and_a_missing_folder_holds_none(tmp_path):
    run = make_run(tmp_path / "run", 1)
    assert run_folders_under(run) == [run]
    assert run_folders_under(tmp_path / "missing") == []
