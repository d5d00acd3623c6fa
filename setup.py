"""What pyproject.toml cannot say: the config groups in ``conf/`` ride along in the wheel.

In a checkout (and an editable install) Hydra reads ``conf/`` at the top of the repository. A
wheel has no repository, so ``conf/`` and its group folders are shipped as
``gpt_experiments/conf``, where ``gpt_experiments.config`` looks first.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

CONF = Path("conf")


def conf_packages() -> dict[str, str]:
    """``conf/`` and every group folder in it, as packages under ``gpt_experiments.conf``: their folders."""
    folders = [CONF, *sorted(p for p in CONF.rglob("*") if p.is_dir())]
    return {".".join(("gpt_experiments", *folder.parts)): folder.as_posix() for folder in folders}


conf = conf_packages()
setup(
    # hydra_plugins/ is a namespace package shared with other Hydra plugins: Hydra finds ours there.
    packages=[*find_namespace_packages(include=["gpt_experiments*", "hydra_plugins*"]), *conf],
    package_dir=conf,
    package_data={"gpt_experiments": ["assets/*"], **{name: ["*.yaml"] for name in conf}},
)
