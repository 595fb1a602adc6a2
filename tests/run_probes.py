"""Test-only callbacks for the resume and DDP-equivalence tests, loaded by `motioncontent fit` subprocesses
(PYTHONPATH=tests; `--trainer.callbacks+=run_probes.RecordRun`)."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

LOG_ENV = "MC_TEST_RUN_LOG"  # JSON-lines file the run's records are appended to
KILL_ENV = "MC_TEST_KILL_AT_STEP"  # SIGKILL the process when this global step is about to start


class RecordRun(Callback):
    """Appends {"step", "loss"} per training step (the loss averaged over DDP ranks: the global batch's loss) and
    {"val": metrics, "clips"} per validation (clips: validation clips summed over ranks), from global rank 0."""

    def __init__(self) -> None:
        self.clips = 0

    def _write(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if trainer.is_global_zero:
            with open(os.environ[LOG_ENV], "a") as file:
                file.write(json.dumps(record) + "\n")

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        step = os.environ.get(KILL_ENV)
        if step is not None and trainer.global_step == int(step):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind, as a crash or an OOM killer would do

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = trainer.strategy.reduce(outputs["loss"].detach().double(), reduce_op="mean")
        self._write(trainer, {"step": trainer.global_step - 1, "loss": float(loss)})

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.clips = 0

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        self.clips += len(batch[0])

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        clips = int(trainer.strategy.reduce(torch.tensor(float(self.clips)), reduce_op="sum"))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("val/", "rate/"))}
        self._write(trainer, {"step": trainer.global_step, "val": metrics, "clips": clips})
