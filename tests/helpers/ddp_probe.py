"""A callback for the DDP test: each rank writes what it trained on and its final weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightning as L


class RankProbe(L.Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.batches: list[str] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches.append(hashlib.sha256(batch[0].numpy().tobytes()).hexdigest())

    def on_train_end(self, trainer, pl_module) -> None:
        weights = hashlib.sha256()
        for name, tensor in sorted(pl_module.model.state_dict().items()):
            weights.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
        report = {"world_size": trainer.world_size, "batches": self.batches, "weights": weights.hexdigest()}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))
