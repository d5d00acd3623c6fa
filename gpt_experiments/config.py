"""Where the configs are, the OmegaConf resolvers they use, and reading a group's values
(shared by every command)."""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from gpt_experiments.errors import ConfigError
from gpt_experiments.result_keys import is_result_neutral


def find_conf_dir() -> Path:
    """The Hydra config groups: the copy a wheel installs inside the package, else ``conf/`` at
    the top of the repository (a checkout or an editable install)."""
    packaged = Path(__file__).resolve().parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "conf"


CONF_DIR = find_conf_dir()
# Run and sweep job folders stay well under the usual 255-byte limit on a file name.
MAX_JOB_DIRNAME_CHARS = 120
# Hydra's override_dirname joins ``key=value`` items with ","; a new item starts where a key does.
_ITEM_START = re.compile(r",(?=[+~]*[\w.-]+=)", re.ASCII)
# Anything else than letters, digits and "_.,=+-" (e.g. "/" in a path value) would nest or break folders.
_UNSAFE_IN_DIRNAME = re.compile(r"[^\w.,=+-]+", re.ASCII)


def asset_path(name: str) -> str:
    """Absolute path of a file bundled in ``gpt_experiments/assets`` (the default corpora)."""
    return str(resources.files("gpt_experiments") / "assets" / name)


def short_value(value: str) -> str:
    """A float to 3 significant digits (``0.0010684874790620226`` -> ``0.00107``); others as they are."""
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)", value):
        return f"{float(value):.3g}"
    return value


def short_override(item: str) -> str:
    """``optimizer.lr=0.0010684874790620226`` -> ``lr=0.00107``: last key part, short value."""
    key, _, value = item.partition("=")
    return f"{key.lstrip('+~').rsplit('.', 1)[-1]}={short_value(value)}"


def job_dirname(prefix: object, override_dirname: str = "") -> str:
    """A short, safe folder name: ``prefix`` then the overrides that set this run apart.

    ``job_dirname(3, "model.drop_rate=0.1,optimizer.lr=0.0010684")`` is
    ``3_drop_rate=0.1,lr=0.00107``; with no overrides it is the prefix alone. Keys that never
    change results (``result_keys.py``) are left out, and so are those Hydra's
    ``override_dirname`` leaves out (a sweep's fixed keys, added to its ``exclude_keys``); the
    run's full overrides stay in ``.hydra/overrides.yaml``.
    """
    own = [item for item in _ITEM_START.split(override_dirname) if item]
    items = [short_override(item) for item in own if not is_result_neutral(override_key(item))]
    name = _UNSAFE_IN_DIRNAME.sub("_", ",".join([str(prefix), *items]).replace(",", "_", 1))
    return name[:MAX_JOB_DIRNAME_CHARS]


def override_key(override: str) -> str:
    """The key a command-line override sets: ``+trainer.max_epochs=2`` -> ``trainer.max_epochs``;
    a group option placed elsewhere sets its group: ``+logger@logger.mlflow=mlflow`` -> ``logger``."""
    return override.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


def register_resolvers() -> None:
    """Make ``${asset:...}``, ``${job_dirname:...}`` and the others below usable in configs; safe
    to call more than once."""
    OmegaConf.register_new_resolver("asset", asset_path, replace=True)
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    OmegaConf.register_new_resolver("fastest_precision", fastest_precision, replace=True)
    OmegaConf.register_new_resolver("times", times, replace=True)


def times(*factors: int) -> int:
    """``${times:64,${.depth}}``: the product of integers (model=ladder's width from its depth)."""
    return math.prod(factors)


def fastest_precision() -> str:
    """``bf16-mixed`` where the device a run trains on has bf16 units, else ``32-true``.

    bf16 matrix products run several times faster there (AMX / AVX512-BF16 CPUs, Ampere+
    GPUs); elsewhere bf16 is emulated and slower than fp32.
    """
    import torch

    from gpt_experiments.devices import has_native_bf16

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return "bf16-mixed" if has_native_bf16(device) else "32-true"


def resolved_values(node: DictConfig, prefix: str) -> dict[str, Any]:
    """The group's values as plain Python, skipping those only a running Hydra job can resolve."""
    values = {}
    for key in node:
        try:
            value = node[key]
        except MissingMandatoryValue:
            raise ConfigError(f"{prefix}.{key} is not set: pass {prefix}.{key}=...") from None
        except InterpolationResolutionError:
            continue  # e.g. ${hydra:runtime.output_dir} before Hydra has made the run folder
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        values[str(key)] = value
    return values
