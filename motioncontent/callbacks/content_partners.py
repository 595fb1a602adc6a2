"""MineContentPartners: part-way through training, pair every training clip with others that the model's own content
finds nearest among the clips that move otherwise, and from then on feed some clips' content segments from a
partner (data/mined_pairs.py says why; no labels are used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from motioncontent.data.mined_pairs import NO_PARTNER, mine_content_partners, motion_signature
from motioncontent.data.sprites.factors import facing_change
from motioncontent.data.sprites_datamodule import PartnerContent
from motioncontent.errors import MotionContentError
from motioncontent.eval.probes import bcd_features
from motioncontent.systems.schedules import budget_progress


class MineContentPartners(Callback):
    """At each point of `at`, fractions of the training budget (max_steps or max_time, whichever ends first;
    `systems/schedules.py`), encode the training split with the model being trained (its EMA networks, as evaluation
    does), mine up to `max_partners` partners per clip (`mine_content_partners`) and let `prob` of the training clips
    take their content segment from one of them until the next round. Later rounds mine with a model that the
    earlier partners have taught, and find more partners across a turn of the body.

    Wraps the datamodule's `train_set` in a PartnerContent whose table lives in shared memory, so DataLoader
    workers, persistent ones too, see the partners as soon as they are mined. Under DDP rank 0 mines and broadcasts
    the table. The table is saved in checkpoints, so a resumed run keeps its partners. When the clips carry
    character labels (Sprites), the share of partners of the same character is logged (`mining/same_character`),
    and with direction labels the share that face a turned way (`mining/turned`): diagnostics the mining never
    reads.
    """

    def __init__(self, prob: float = 0.5, at: float | Sequence[float] = (0.5, 0.8), same_motion_cosine: float = 0.9,
                 min_shared: int = 3, max_partners: int = 8):
        self.at = sorted(at) if isinstance(at, (list, tuple)) else [at]
        if not 0.0 < prob <= 1.0 or not self.at or not all(0.0 <= point < 1.0 for point in self.at) \
                or max_partners < 1:
            raise MotionContentError(f"MineContentPartners needs 0 < prob <= 1, points 0 <= at < 1 and max_partners "
                                     f">= 1, got {prob}, {at}, {max_partners}")
        self.prob, self.same_motion_cosine = prob, same_motion_cosine
        self.min_shared, self.max_partners = min_shared, max_partners
        self.dataset: PartnerContent | None = None
        self.rounds = 0  # how many points of `at` have been mined

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        datamodule = trainer.datamodule
        if getattr(datamodule, "train_set", None) is None:
            raise MotionContentError("MineContentPartners needs a datamodule with a train_set (SpritesDataModule)")
        if isinstance(datamodule.train_set, PartnerContent):
            raise MotionContentError("MineContentPartners mines the partners itself: set content_pairing_prob: 0")
        clips = datamodule.train_set
        split = pl_module.content_split(len(clips[0][0]))
        self.dataset = PartnerContent(clips, self.prob, shared_table(len(clips), self.max_partners), split)
        datamodule.train_set = self.dataset  # before the training DataLoader is built

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.rounds == len(self.at) or self.dataset is None:
            return
        progress = budget_progress(pl_module)
        if progress is None or progress < self.at[self.rounds]:
            return
        partner = self._mine(pl_module) if trainer.is_global_zero else None
        self._install(trainer.strategy.broadcast(partner), rounds=sum(point <= progress for point in self.at))
        self._report(trainer)

    def _mine(self, pl_module: Any) -> torch.Tensor:
        content, codes = bcd_features(pl_module, self.dataset.clips)  # no_grad and EMA networks, as evaluation
        signature = motion_signature(codes, num_frames=len(self.dataset.clips[0][0]))
        return mine_content_partners(content, signature, self.same_motion_cosine, self.min_shared, self.max_partners)

    def _install(self, partner: torch.Tensor, rounds: int) -> None:
        if partner.shape != self.dataset.partner.shape:
            raise MotionContentError(f"the checkpoint's content partners are a {tuple(partner.shape)} table, this run "
                                     f"needs {tuple(self.dataset.partner.shape)} (clips, max_partners): resume with "
                                     f"the data and max_partners it was trained with")
        self.dataset.partner.copy_(partner)
        self.rounds = rounds

    def _report(self, trainer: Trainer) -> None:
        partner, clips = self.dataset.partner, self.dataset.clips
        paired = partner != NO_PARTNER
        line = (f"content partners mined at step {trainer.global_step}: {int(paired.any(1).sum())} of {len(partner)} "
                f"clips, {int(paired.sum())} pairs")
        labels = getattr(clips, "labels", {})
        if "character" in labels and paired.any():  # Sprites: how good the pairs are, by labels the mining never read
            i, j = torch.nonzero(paired, as_tuple=True)[0], partner[paired]
            character = torch.from_numpy(clips.label("character"))
            shares = {"mining/same_character": (character[i] == character[j]).double().mean().item()}
            line += f", {100 * shares['mining/same_character']:.1f}% of them of the same character"
            if "direction" in labels:
                direction = torch.from_numpy(clips.label("direction"))
                shares["mining/turned"] = facing_change(direction[i], direction[j])["turned"].double().mean().item()
                line += f", {100 * shares['mining/turned']:.1f}% facing a turned way"
            line += " (by the labels, unused)"
            if trainer.logger is not None:
                trainer.logger.log_metrics(shares, step=trainer.global_step)
        rank_zero_info(line)

    def state_dict(self) -> dict[str, Any]:
        return {"partner": self.dataset.partner.clone() if self.rounds else None, "rounds": self.rounds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Lightning restores callbacks after their setup; outside fit (validate) there is nothing to pair
        if state_dict.get("partner") is not None and self.dataset is not None:
            self._install(state_dict["partner"], state_dict["rounds"])


def shared_table(clips: int, max_partners: int) -> torch.Tensor:
    """A partner table (clips, max_partners) of NO_PARTNER in shared memory: DataLoader workers, forked or spawned,
    read this very storage."""
    return torch.full((clips, max_partners), NO_PARTNER, dtype=torch.long).share_memory_()
