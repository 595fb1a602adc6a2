"""TalkingHeadJudgeModule: trains the talking-head judge (models/face_judge.py) on the training people only.

Loss: identity cross-entropy (cosine classifier over the data module's people; only the training people's rows
ever see a batch) + `motion_weight` x smooth-L1 on the standardised per-frame motion factors + `factor_weight` x the
identity factors' cross-entropies. The last two need the synthetic set's ground truth; on a folder of real videos
only the identity term is trained.

Validation and test people are unseen, so identity is scored as the evaluation uses it: each window is assigned
to the nearest person by mean embedding of that person's *other* clips (eval/talking_heads.nearest_identity).
The checkpoint records the training people, so an evaluation can check that it scores people the judge never saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule

from motioncontent.data.talking_heads.synthetic_faces import IDENTITY_FACTORS
from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS
from motioncontent.eval.talking_heads import nearest_identity
from motioncontent.models.face_judge import TalkingHeadJudge
from motioncontent.systems.judge import one_cycle_adamw


class TalkingHeadJudgeModule(LightningModule):
    """Args: num_people (None: the data module's number of people, taken when fitting and stored in the
    hyperparameters so the checkpoint rebuilds the same network), image_size (= data.image_size; the data module
    checks), width, frame_dim, embed_dim (network sizes),
    motion_weight, factor_weight (loss weights), lr (peak of a one-cycle AdamW schedule), weight_decay."""

    def __init__(self, num_people: int | None = None, image_size: int = 64, width: int = 32,
                 frame_dim: int = 256, embed_dim: int = 128, motion_weight: float = 1.0, factor_weight: float = 0.5,
                 lr: float = 2e-3, weight_decay: float = 1e-4):
        super().__init__()
        self.save_hyperparameters()
        self.judge: TalkingHeadJudge | None = None
        if num_people is not None:
            self._build()
        self.train_identities: list[str] = []
        self._eval_buffer: list[dict[str, torch.Tensor]] = []

    def _build(self) -> None:
        h = self.hparams
        self.judge = TalkingHeadJudge(h.num_people, h.image_size, h.width, h.frame_dim, h.embed_dim)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self.judge is None:
            if datamodule is None:
                raise ValueError("num_people must be given without a data module")
            self.hparams.num_people = len(datamodule.train_set.identity_index)
            self._build()
        if stage == "fit" and datamodule is not None:
            self.train_identities = list(datamodule.splits["train"])
            self._fit_motion_scale(datamodule.train_set)

    @torch.no_grad()
    def _fit_motion_scale(self, train_set: Any) -> None:
        """Mean and std of every motion factor over the training clips' frames (standardised regression targets)."""
        rows = [train_set.factors[c.file][c.row] for c in train_set.clip_refs
                if c.file in train_set.factors and c.row is not None]
        if not rows:
            return
        frames = torch.from_numpy(np.concatenate(rows).astype(np.float32))
        self.judge.motion_mean.copy_(frames.mean(0))
        self.judge.motion_std.copy_(frames.std(0).clamp_min(1e-6))

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.judge(video)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["judge_train_identities"] = self.train_identities

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.train_identities = list(checkpoint.get("judge_train_identities", []))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        video, labels = batch
        out = self(video)
        loss = F.cross_entropy(out["identity_logits"], labels["character"])
        self.log("train/ce_identity", loss)
        if "factors" in labels:
            target = (labels["factors"] - self.judge.motion_mean) / self.judge.motion_std
            motion = F.smooth_l1_loss(out["motion_z"], target)
            self.log("train/motion", motion)
            loss = loss + self.hparams.motion_weight * motion
        present = [name for name in IDENTITY_FACTORS if name in labels]
        if present:
            factor = sum(F.cross_entropy(out[f"factor/{name}"], labels[name]) for name in present) / len(present)
            self.log("train/ce_factors", factor)
            loss = loss + self.hparams.factor_weight * factor
        self.log("train/loss", loss, prog_bar=True)
        return loss

    # ---- validation / test: gathered over the split, scored at the end ---------------------------------------
    def _collect(self, batch: Any) -> None:
        video, labels = batch
        out = self(video)
        item = {"embedding": out["embedding"].detach().cpu(), "identity": labels["character"].cpu(),
                "clip": labels["clip"].cpu()}
        if "factors" in labels:
            item["motion"], item["factors"] = out["motion"].detach().cpu(), labels["factors"].cpu()
        for name in IDENTITY_FACTORS:
            if name in labels:
                item[f"correct/{name}"] = (out[f"factor/{name}"].argmax(1) == labels[name]).cpu()
        self._eval_buffer.append(item)

    def _score(self, stage: str) -> None:
        items, self._eval_buffer = self._eval_buffer, []
        if self._trainer is not None and self._trainer.world_size > 1:
            # Identity accuracy ranks each clip against the whole split, so every rank scores the gathered split.
            # Objects, not tensors: ranks hold different numbers of clips, which a tensor all_gather does not take.
            gathered: list[Any] = [None] * self._trainer.world_size
            torch.distributed.all_gather_object(gathered, items)
            items = [item for rank_items in gathered for item in rank_items]
        if not items:
            return
        cat = {key: torch.cat([i[key] for i in items]) for key in items[0]}
        guess = nearest_identity(cat["embedding"], cat["clip"], cat["embedding"], cat["identity"], cat["clip"])
        self.log(f"{stage}/identity_acc", (guess == cat["identity"]).double().mean().item(), prog_bar=True)
        if "motion" in cat:
            mae = (cat["motion"] - cat["factors"]).abs().mean(dim=(0, 1))
            std = cat["factors"].flatten(0, 1).std(0).clamp_min(1e-8)
            self.log(f"{stage}/motion_error", (mae / std).mean().item(), prog_bar=True)
            for k, name in enumerate(MOTION_FACTORS):
                self.log(f"{stage}/motion_mae_{name}", mae[k].item())
        correct = [cat[key] for key in cat if key.startswith("correct/")]
        for key in [k for k in cat if k.startswith("correct/")]:
            self.log(f"{stage}/acc_{key.split('/', 1)[1]}", cat[key].double().mean().item())
        if correct:
            self.log(f"{stage}/acc_factors_joint", torch.stack(correct).all(0).double().mean().item())

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._collect(batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        self._score("val")

    def on_test_epoch_end(self) -> None:
        self._score("test")

    def configure_optimizers(self) -> Any:
        return one_cycle_adamw(self)


def load_talking_head_judge(path: str, map_location: str | torch.device = "cpu") -> TalkingHeadJudgeModule:
    """A trained talking-head judge in eval mode, from a checkpoint written by `make judge-talking-heads`."""
    return TalkingHeadJudgeModule.load_from_checkpoint(path, map_location=map_location, weights_only=True).eval()


__all__ = ["TalkingHeadJudgeModule", "load_talking_head_judge"]
