"""StopOnNonFinite: a NaN gradient ends training with the step named, the weights untouched, the checkpoint kept."""

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from motioncontent.callbacks import NonFiniteError, StopOnNonFinite


class GoesBadAtStep(LightningModule):
    def __init__(self, bad_step: int):
        super().__init__()
        self.bad_step = bad_step
        self.layer = torch.nn.Linear(4, 1)
        self.weights_before_bad_step = None

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).square().mean()
        if self.global_step == self.bad_step:
            self.weights_before_bad_step = self.layer.weight.detach().clone()
            loss = loss * float("nan")
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 4)), batch_size=4)


def test_nan_gradient_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint(tmp_path):
    model = GoesBadAtStep(bad_step=5)
    checkpoints = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=2, save_last=True)
    trainer = Trainer(max_steps=10, callbacks=[StopOnNonFinite(), checkpoints], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu")
    with pytest.raises(NonFiniteError, match=r"step 5 in 2 parameter\(s\) \(layer.weight, layer.bias\).*last.ckpt"):
        trainer.fit(model)
    assert torch.equal(model.layer.weight, model.weights_before_bad_step)  # the bad update was never applied
    assert torch.isfinite(model.layer.weight).all()
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 4 and all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def test_finite_training_is_left_alone(tmp_path):
    trainer = Trainer(max_steps=6, callbacks=[StopOnNonFinite()], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False, accelerator="cpu")
    trainer.fit(GoesBadAtStep(bad_step=-1))
    assert trainer.global_step == 6
