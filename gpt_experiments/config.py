"""Where the configs are, and the OmegaConf resolvers they use (shared by every command)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from omegaconf import OmegaConf

# The Hydra config groups: ``conf/`` at the top of the repository (an editable install).
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# Sweep job folders stay well under the usual 255-byte limit on a file name.
MAX_JOB_DIRNAME_CHARS = 120
# "optimizer.lr=" -> "lr=": the group prefix of every key in an override list.
_KEY_PREFIX = re.compile(r"(?:^|(?<=,))[+~]*(?:[\w-]+\.)+(?=[\w-]+=)", re.ASCII)
# Anything else than letters, digits and "_.,=+-" (e.g. "/" in a path value) would nest or break folders.
_UNSAFE_IN_DIRNAME = re.compile(r"[^\w.,=+-]+", re.ASCII)


def asset_path(name: str) -> str:
    """Absolute path of a file bundled in ``gpt_experiments/assets`` (the default corpora)."""
    return str(resources.files("gpt_experiments") / "assets" / name)


def job_dirname(override_dirname: str) -> str:
    """A short, safe folder name for a sweep job from Hydra's ``key=value,...`` override list.

    ``model.drop_rate=0.1,optimizer.lr=0.001`` becomes ``drop_rate=0.1,lr=0.001``; the
    job's full overrides stay in its ``.hydra/overrides.yaml``.
    """
    short = _KEY_PREFIX.sub("", override_dirname)
    return _UNSAFE_IN_DIRNAME.sub("_", short)[:MAX_JOB_DIRNAME_CHARS]


def register_resolvers() -> None:
    """Make ``${asset:...}`` and ``${job_dirname:...}`` usable in configs; safe to call more than once."""
    OmegaConf.register_new_resolver("asset", asset_path, replace=True)
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    OmegaConf.register_new_resolver("fastest_precision", fastest_precision, replace=True)


def fastest_precision() -> str:
    """``bf16-mixed`` where the device a run trains on has bf16 units, else ``32-true``.

    bf16 matrix products run several times faster there (AMX / AVX512-BF16 CPUs, Ampere+
    GPUs); elsewhere bf16 is emulated and slower than fp32.
    """
    import torch

    from gpt_experiments.inference.precision import has_native_bf16

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return "bf16-mixed" if has_native_bf16(device) else "32-true"
