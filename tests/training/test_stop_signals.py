"""The stop-signal handlers: in place through Lightning's own teardown, given back by ``release``."""

from __future__ import annotations

import signal

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal, abort_on_signal
from tests.helpers import quiet_trainer


class OneWeight(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def training_step(self, batch, batch_idx):
        return (self.weight * batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_with(callback: SaveAndStopOnSignal) -> None:
    data = DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=1)
    quiet_trainer(max_steps=2, callbacks=[callback]).fit(OneWeight(), data)


def handlers_now() -> dict:
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def test_handlers_outlive_lightnings_teardown_until_released(tmp_path):
    before = handlers_now()
    callback = SaveAndStopOnSignal(tmp_path)
    try:
        fit_with(callback)
        # Lightning restores the handlers it found when the fit began: ours, so a second
        # Ctrl-C during its teardown aborts instead of raising KeyboardInterrupt there.
        assert signal.getsignal(signal.SIGINT) == callback._on_signal
        assert signal.getsignal(signal.SIGTERM) == callback._on_signal
        callback.release()
        assert handlers_now() == before
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_after_a_stop_further_signals_abort(tmp_path, capsys):
    before = handlers_now()
    callback = SaveAndStopOnSignal(tmp_path)
    try:
        callback.on_fit_start(None, None)
        callback._on_signal(signal.SIGINT, None)
        assert callback.received == "SIGINT"
        assert "saving after this step" in capsys.readouterr().err
        callback.release()
        assert signal.getsignal(signal.SIGINT) is abort_on_signal
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
