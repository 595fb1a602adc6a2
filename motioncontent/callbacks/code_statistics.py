"""A validation-epoch histogram of the motion codes, the shared base of CodebookUsage and Bitrate.

Validation steps return {"codes": (B, T, N)}; the histogram (N, E) is summed over the whole split and, under
DDP, over all ranks, so the statistics describe the full split exactly once per epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from motioncontent.models.rate import code_histogram


class CodeStatistics(Callback):
    """Accumulates code counts over a validation epoch; subclasses report them in `report`."""

    def __init__(self) -> None:
        self.histogram: torch.Tensor | None = None

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.histogram = None

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not isinstance(outputs, dict) or "codes" not in outputs:
            return
        counts = code_histogram(outputs["codes"].detach(), pl_module.quantizer.codebook_size).double()
        self.histogram = counts if self.histogram is None else self.histogram + counts

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.histogram is None or trainer.sanity_checking:
            return
        histogram = trainer.strategy.reduce(self.histogram, reduce_op="sum")  # (N, E), every rank's codes
        self.report(trainer, pl_module, histogram)

    def report(self, trainer: Trainer, pl_module: LightningModule, histogram: torch.Tensor) -> None:
        raise NotImplementedError

