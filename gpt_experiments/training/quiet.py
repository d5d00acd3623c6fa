"""A quiet console: drop the specific third-party messages that tell a user nothing to act on.

Each filter names one message; errors and every other warning still show.
"""

from __future__ import annotations

import logging
import warnings

# Lightning's advertisements for its cloud products, printed at every fit, and notes about
# what this project does on purpose (its own model summary; configure_optimizers asking
# for the number of steps, which loads the dataloader).
_NOISE = (
    "💡 Tip:",
    "Trainer already configured with model summary callbacks",
    "Loading `train_dataloader` to estimate number of stepping batches",
    # conf/trainer/default.yaml spells out the defaults (all batches) so they can be overridden.
    "`Trainer(limit_train_batches=1.0)` was configured",
    "`Trainer(limit_val_batches=1.0)` was configured",
)
_LIGHTNING_INFO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_NOISE)


def one_line_per_lightning_message() -> None:
    """Show each Lightning message once.

    The ``lightning`` package logger prints to stderr itself (``INFO: ...``). Imported after the
    root logger has a handler (a sweep's jobs, where Hydra set up logging first), Lightning
    also passes its messages on to the root logger, which prints them again: then its own
    handler goes, and the run's console (Hydra's job logging) prints them once.
    """
    if logging.getLogger("lightning.pytorch").propagate:
        package_logger = logging.getLogger("lightning")
        for handler in list(package_logger.handlers):
            package_logger.removeHandler(handler)


def quiet_third_party_messages() -> None:
    """Install the filters (idempotent)."""
    one_line_per_lightning_message()
    # Lightning calls a torch API torch has since deprecated: not this project's to fix.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # Answered by LogEveryEpoch, which lowers the interval to the epoch's length.
    warnings.filterwarnings(
        "ignore", message=r"The number of training batches \(\d+\) is smaller than the logging"
    )
    # Mixed precision keeps fp32 weights, so the summary's size in fp32 is the right one.
    warnings.filterwarnings("ignore", message=r"Precision [\w-]+ is not supported by the model summary")
    # TensorBoard's event reader (compare_runs at a sweep's end) reports each file it finishes.
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    for name in _LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
