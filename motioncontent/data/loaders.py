"""The DataLoaders every clip DataModule of the project hands to Lightning, written once."""

from __future__ import annotations

import os

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from motioncontent.data.resumable import EpochSampler, ResumableLoader


class ClipLoaders(LightningDataModule):
    """train/val/test/predict loaders over `train_set`, `val_set` and `test_set` (set by the subclass's setup).

    Training shuffles and drops the last partial batch, unless the set is smaller than one batch (a small folder
    of videos), where dropping it would leave an epoch with no step. Predict reads the test set.

    Training and evaluation loaders shard for DDP themselves (data/resumable.py): training order is a function of
    (seed, epoch), resumable mid-epoch from a checkpoint, and the same global batches whatever the world size;
    validation and test give each clip to exactly one rank, with no padding.
    """

    batch_size: int
    num_workers: int
    pin_memory: bool

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=train,
                          drop_last=train and len(dataset) >= self.batch_size, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0)

    def _world(self) -> tuple[int, int]:
        """(rank, world size) of the attached trainer; (0, 1) outside one."""
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _train_progress(self) -> tuple[int, int]:
        """(epoch, batches of it trained on) for ResumableLoader's checkpoint state."""
        return self.trainer.current_epoch, self.trainer.fit_loop.epoch_loop.batch_idx + 1

    def _sharded(self, dataset: Dataset, train: bool) -> DataLoader:
        rank, world = self._world()
        # The seed_everything seed (Lightning exports it; the same on every rank), so the data order follows it.
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        sampler = EpochSampler(dataset, num_replicas=world, rank=rank, shuffle=train, seed=seed, drop_last=train)
        common = dict(batch_size=self.batch_size, num_workers=self.num_workers, pin_memory=self.pin_memory,
                      persistent_workers=self.num_workers > 0)
        if train:
            return ResumableLoader(dataset, sampler=sampler, progress=self._train_progress,
                                   drop_last=len(sampler) >= self.batch_size, **common)
        # Its own generator: an evaluation iterator then draws nothing from the global RNG, so validating every
        # n steps leaves the training noise as it would be without validation.
        return DataLoader(dataset, sampler=sampler, generator=torch.Generator(), **common)

    def train_dataloader(self) -> DataLoader:
        return self._sharded(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._sharded(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._sharded(self.test_set, train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)


__all__ = ["ClipLoaders"]
