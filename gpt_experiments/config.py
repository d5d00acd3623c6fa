"""Where the configs are, the OmegaConf resolvers they use, and reading a group's values
(shared by every command)."""

from __future__ import annotations

import math
import os
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
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
# How a folder name joins a key to its value, and one item to the next: not Hydra's own "=" and
# ",", which would make the path of a run folder unusable as a value in this project's commands
# (``evaluate.py ckpt=<run folder>``: Hydra reads them as its syntax).
DIRNAME_KV_SEP = "-"
DIRNAME_ITEM_SEP = "+"
# Anything else than letters, digits and "_.+-" (e.g. "/" in a path value, "=" or ",") would nest
# folders or need quotes on a command line.
_UNSAFE_IN_DIRNAME = re.compile(r"[^\w.+-]+", re.ASCII)
# Characters a shell passes on as they are (no spaces, quotes, globs or variables).
_SHELL_SAFE = re.compile(r"[\w./+:@%,=-]+", re.ASCII)


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
    """A short folder name, usable unquoted as a command-line value: ``prefix`` then the
    overrides that set this run apart.

    ``job_dirname(3, "model.drop_rate=0.1,optimizer.lr=0.0010684")`` is
    ``3_drop_rate-0.1+lr-0.00107``; with no overrides it is the prefix alone. Keys that never
    change results (``result_keys.py``) are left out, and so are those Hydra's
    ``override_dirname`` leaves out (a sweep's fixed keys, added to its ``exclude_keys``); the
    run's full overrides stay in ``.hydra/overrides.yaml``.
    """
    own = [item for item in override_items(override_dirname) if item]
    shortened = (short_override(item) for item in own if not is_result_neutral(override_key(item)))
    items = [_UNSAFE_IN_DIRNAME.sub("_", item.replace("=", DIRNAME_KV_SEP, 1)) for item in shortened]
    name = "_".join(
        [_UNSAFE_IN_DIRNAME.sub("_", str(prefix)), DIRNAME_ITEM_SEP.join(items)] if items else [str(prefix)]
    )
    return name[:MAX_JOB_DIRNAME_CHARS]


def override_items(override_dirname: str) -> list[str]:
    """Hydra's ``override_dirname`` split into its ``key=value`` items: at each "," outside
    quotes and brackets (a quoted path or a list may hold commas of its own)."""
    items, current, depth, quote = [], [], 0, ""
    for char in override_dirname:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def typed_override(key: str, value: object) -> str:
    """``key=value`` as one shell word that Hydra reads back as ``value``: as it is where that
    holds, else quoted for Hydra and then for the shell (``"resume='a=b,c'"``; shlex's quoting
    when the value holds a character the shell would still read inside double quotes)."""
    text = str(value)
    if _SHELL_SAFE.fullmatch(text):
        try:
            if OverridesParser.create().parse_override(f"{key}={text}").value() == text:
                return f"{key}={text}"
        except HydraException:
            pass
    word = hydra_quoted(key, text)
    return shlex.quote(word) if set(word) & set('"$`\\!') else f'"{word}"'


def hydra_quoted(key: str, text: str) -> str:
    """``key='text'``, which Hydra reads back as ``text`` whatever it holds."""
    return f"{key}={hydra_quoted_value(text)}"


def hydra_quoted_value(text: str) -> str:
    # In Hydra's quoted strings a backslash escapes only before a quote or at the very end.
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"


# The settings that name a file or folder: by their last part, and every one under paths.
PATH_KEYS = frozenset({"path", "ckpt", "ckpt_path", "prompts_file", "text_path", "out_dir", "resume", "dir"})


def is_path_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in PATH_KEYS or key.startswith("paths.")


def path_override(override: str) -> str:
    """``key=value`` as Hydra should read it when ``key`` names a path: ``~`` written out, and
    a value Hydra would read as a number quoted (a folder named 2024 is not the int 2024).

    A shell leaves ``~`` alone inside quotes (as Hydra asks paths with spaces to be written)
    and after ``=`` (zsh), and taken literally it names a folder ``~`` in the working folder:
    a checkpoint "does not exist", and an output lands in ``./~``.
    """
    key, equals, value = override.partition("=")
    if not equals or key.startswith("~") or not is_path_key(override_key(override)):  # ~key deletes key
        return override
    quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
    if quoted:
        texts = [value[1:-1]]
    elif "," in value and not set(value) & set("'\"()[]{}"):
        texts = value.split(",")  # a sweep's plain list, -m ckpt_path=~/a,~/b
    else:
        texts = [value]
    paths = [os.path.expanduser(text) for text in texts]
    if paths == texts and (quoted or not any(map(reads_as_number, texts))):
        return override
    return f"{key}=" + ",".join(hydra_quoted_value(path) for path in paths)


def reads_as_number(text: str) -> bool:
    """Whether Hydra reads the unquoted ``text`` as an int or a float (2024, 1e3, 1_000, nan)."""
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


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
