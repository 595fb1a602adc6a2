"""SpritesJudgeModule: trains the Sprites judge (models/judge.py) on ground-truth labels, as SPRITES.md section 4.

The loss is the sum of the five heads' cross-entropies. Validation and test report each head's accuracy and the
joint accuracy of the four appearance heads. The data source the judge learnt from (lpc / procedural / npy) is
stored in the checkpoint, so an evaluation can say when it scores another source with it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from motioncontent.models.judge import JUDGE_HEADS, SpritesJudge

ATTRIBUTES = ("skin", "pants", "top", "hair")


class SpritesJudgeModule(LightningModule):
    """Args: width (DCGAN channel base; 64 is the literature's), frame_dim, hidden (LSTM), lr (the peak of a
    one-cycle AdamW schedule over the whole run), weight_decay."""

    def __init__(self, width: int = 64, frame_dim: int = 128, hidden: int = 256, lr: float = 2e-3,
                 weight_decay: float = 1e-4):
        super().__init__()
        self.save_hyperparameters()
        self.judge = SpritesJudge(width=width, frame_dim=frame_dim, hidden=hidden)
        self.data_source: str | None = None
        self.accuracy = nn.ModuleDict({
            stage: nn.ModuleDict({name: MulticlassAccuracy(classes, average="micro")
                                  for name, classes in JUDGE_HEADS.items()})
            for stage in ("val", "test")
        })
        # A metric object, not a tensor logged with sync_dist: Lightning's DDP epoch mean of those averages the
        # per-rank batch sizes in an integer tensor (Lightning issue #21859); MeanMetric reduces sums and counts.
        self.joint_accuracy = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.judge(video)

    def on_fit_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        self.data_source = getattr(datamodule, "source", None)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["judge_data_source"] = self.data_source

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.data_source = checkpoint.get("judge_data_source")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        video, labels = batch
        logits = self(video)
        losses = {name: F.cross_entropy(logits[name], labels[name]) for name in JUDGE_HEADS}
        loss = sum(losses.values())
        self.log("train/loss", loss, prog_bar=True)
        for name, value in losses.items():
            self.log(f"train/ce_{name}", value)
        return loss

    def _evaluate(self, stage: str, batch: Any) -> None:
        video, labels = batch
        logits = self(video)
        joint = torch.ones(video.shape[0], dtype=torch.bool, device=video.device)
        for name, metric in self.accuracy[stage].items():
            metric.update(logits[name], labels[name])
            self.log(f"{stage}/acc_{name}", metric, on_epoch=True, prog_bar=name == "motion")
            if name in ATTRIBUTES:
                joint &= logits[name].argmax(1) == labels[name]
        self.joint_accuracy[stage].update(joint.float())
        self.log(f"{stage}/acc_attributes_joint", self.joint_accuracy[stage], on_epoch=True)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate("test", batch)

    def configure_optimizers(self) -> Any:
        return one_cycle_adamw(self)


def one_cycle_adamw(module: LightningModule) -> dict[str, Any]:
    """AdamW with a one-cycle schedule over the whole run (hparams lr, weight_decay): the judges' optimiser."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=module.hparams.lr, weight_decay=module.hparams.weight_decay)
    total = module.trainer.estimated_stepping_batches
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=module.hparams.lr, total_steps=int(total),
                                                    pct_start=0.1)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def load_judge(path: str, map_location: str | torch.device = "cpu") -> SpritesJudgeModule:
    """A trained judge in eval mode, from a checkpoint written by `make judge-sprites`."""
    module = SpritesJudgeModule.load_from_checkpoint(path, map_location=map_location, weights_only=True)
    return module.eval()


__all__ = ["ATTRIBUTES", "SpritesJudgeModule", "load_judge", "one_cycle_adamw"]
