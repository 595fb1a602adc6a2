"""The DataLoaders every clip DataModule of the project hands to Lightning, written once."""

from __future__ import annotations

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset


class ClipLoaders(LightningDataModule):
    """train/val/test/predict loaders over `train_set`, `val_set` and `test_set` (set by the subclass's setup).

    Training shuffles and drops the last partial batch, unless the set is smaller than one batch (a small folder
    of videos), where dropping it would leave an epoch with no step. Predict reads the test set.
    """

    batch_size: int
    num_workers: int
    pin_memory: bool

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=train,
                          drop_last=train and len(dataset) >= self.batch_size, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)


__all__ = ["ClipLoaders"]
