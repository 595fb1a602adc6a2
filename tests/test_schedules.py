import math
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import Timer

from motioncontent.systems.schedules import budget_decay, budget_progress, trainer_max_steps, warmup_cosine
from tiny_models import TINY_BCD, tiny_video_loader


def test_warmup_then_cosine_to_the_final_fraction():
    schedule = warmup_cosine(warmup_steps=10, total_steps=110, final_fraction=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.55)  # half-way through the cosine: the mean of 1 and 0.1
    assert schedule(110) == pytest.approx(0.1) and schedule(500) == pytest.approx(0.1)
    values = [schedule(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("total", [None, 5])
def test_constant_after_warmup_without_a_step_limit(total):
    schedule = warmup_cosine(warmup_steps=10, total_steps=total)
    assert [schedule(s) for s in (10, 1000)] == [1.0, 1.0]
    assert math.isclose(schedule(4), 0.5)


def test_trainer_max_steps_is_none_without_a_trainer_or_a_step_limit():
    assert trainer_max_steps(SimpleNamespace(_trainer=None)) is None
    assert trainer_max_steps(SimpleNamespace(_trainer=SimpleNamespace(max_steps=-1))) is None
    assert trainer_max_steps(SimpleNamespace(_trainer=SimpleNamespace(max_steps=500))) == 500


def test_budget_decay_is_flat_then_linear_to_zero_over_the_last_fraction():
    done = {"progress": 0.0}
    factor = budget_decay(0.25, lambda: done["progress"])
    values = []
    for progress in (0.0, 0.5, 0.75, 0.875, 1.0, 1.2):
        done["progress"] = progress
        values.append(factor())
    assert values == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.0, 0.0])
    assert budget_decay(0.0, lambda: 0.99)() == 1.0  # off
    assert budget_decay(0.5, lambda: None)() == 1.0  # no budget to decay towards


def test_budget_progress_takes_the_nearer_end_of_steps_and_time():
    timer = Timer(duration={"seconds": 100})
    timer.load_state_dict({"time_elapsed": {"train": 60.0}})  # as after a resume: 60 s already spent
    trainer = SimpleNamespace(max_steps=1000, global_step=200, callbacks=[timer])
    assert budget_progress(SimpleNamespace(_trainer=trainer)) == pytest.approx(0.6)  # time ends first
    trainer.global_step = 900
    assert budget_progress(SimpleNamespace(_trainer=trainer)) == pytest.approx(0.9)  # steps end first
    unbounded = SimpleNamespace(max_steps=-1, global_step=5, callbacks=[])
    assert budget_progress(SimpleNamespace(_trainer=unbounded)) is None
    # several processes: every rank takes rank 0's clock, so all apply the same learning rate
    ranks = SimpleNamespace(max_steps=-1, global_step=0, callbacks=[timer], world_size=2,
                            strategy=SimpleNamespace(broadcast=lambda value, src=0: 25.0))
    assert budget_progress(SimpleNamespace(_trainer=ranks)) == pytest.approx(0.25)


class RecordLearningRate(Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:  # noqa: ANN001
        self.rates.append(optimizer.param_groups[0]["lr"])


def test_bcd_learning_rate_decays_to_zero_at_the_end_of_its_steps():
    from motioncontent.systems import BCDModule

    torch.manual_seed(0)
    model = BCDModule(**{**TINY_BCD, "warmup_steps": 1, "lr": 1e-3, "lr_decay_fraction": 0.5})
    recorder = RecordLearningRate()
    trainer = Trainer(max_steps=6, accelerator="cpu", logger=False, callbacks=[recorder], enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train_dataloaders=tiny_video_loader(clips=12))
    # the rate of step k is set after step k - 1: flat for the first half of the 6 steps, then 2/3, 1/3 of 1e-3
    assert recorder.rates == pytest.approx([1e-3, 1e-3, 1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3])
