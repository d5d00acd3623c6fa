"""One way to fail for every command: user errors are one line, bugs keep their traceback."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from gpt_experiments.cli import compare, convert, download
from gpt_experiments.cli.handler import describe_os_error, exits_on_user_error
from gpt_experiments.errors import ConfigError
from tests.helpers import ROOT, script_env


def test_user_error_is_one_line_and_exit_status_1(capsys):
    @exits_on_user_error
    def command() -> None:
        raise ConfigError("optimizer.lr=-1 is invalid: it must be > 0")

    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == 1
    assert capsys.readouterr().err == "error: optimizer.lr=-1 is invalid: it must be > 0\n"


def test_os_error_names_the_path_and_the_reason(capsys, tmp_path):
    @exits_on_user_error
    def command() -> None:
        (tmp_path / "missing" / "file.txt").read_text()

    with pytest.raises(SystemExit):
        command()
    assert (
        capsys.readouterr().err == f"error: {tmp_path / 'missing' / 'file.txt'}: No such file or directory\n"
    )


def test_os_error_without_a_path_keeps_its_reason():
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"


def test_a_bare_value_error_is_a_bug_not_a_user_error():
    @exits_on_user_error
    def command() -> None:
        raise ValueError("internal inconsistency")

    with pytest.raises(ValueError, match="internal inconsistency"):
        command()


def divide_by_zero(*args, **kwargs):
    return 1 / 0


@pytest.mark.parametrize(
    ("module", "target", "argv"),
    [
        (convert, "convert", ["src", "dest", "--to", "project"]),
        (download, "download_gpt2", ["124M"]),
        (compare, "compare_runs", ["outputs"]),
    ],
)
def test_a_bug_in_an_argparse_command_propagates(monkeypatch, module, target, argv):
    monkeypatch.setattr(module, target, divide_by_zero)
    with pytest.raises(ZeroDivisionError):
        module.main(argv)


# Each Hydra command, run as a user would, with a bug injected into the first thing it calls
# (in the module that defines it: the train command imports its training stack late).
HYDRA_COMMANDS = {
    "train (before Hydra)": ("train", "training.launch.prepare_run", ["model=tiny"]),
    "train (in the job)": ("train", "training.run.train", ["model=tiny", "trainer.max_steps=1"]),
    "generate": ("generate", "cli.generate.sampler_and_prompts", ["ckpt=x", "prompt=hi"]),
    "evaluate": ("evaluate", "cli.evaluate.load_inference_model", ["ckpt=x", "data=verdict"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", HYDRA_COMMANDS)
def test_a_bug_in_a_hydra_command_keeps_its_traceback(command, tmp_path):
    module, target, argv = HYDRA_COMMANDS[command]
    defined_in, name = target.rsplit(".", 1)
    inject = (
        "import sys\n"
        f"import gpt_experiments.{defined_in} as defined_in\n"
        f"defined_in.{name} = lambda *a, **k: 1 / 0\n"
        f"import gpt_experiments.cli.{module} as cli\n"
        f"sys.argv = ['{module}.py', *{argv!r}]\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", inject],
        cwd=tmp_path,
        env=script_env(tmp_path, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ZeroDivisionError" in done.stderr
    assert not any(line.startswith("error: ") for line in done.stderr.splitlines())
