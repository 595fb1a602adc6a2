"""Callback logic on hand-made inputs: the swap-grid layout, the choice of sources, the rate arithmetic."""

import math
from types import SimpleNamespace

import pytest
import torch

from motioncontent.callbacks import Bitrate, CodebookUsage
from motioncontent.callbacks.sample_grid import grid_filmstrips, pick_sources, swap_grid


def constant_clip(value: float, t: int = 3) -> torch.Tensor:
    return torch.full((t, 3, 4, 4), value)


def test_swap_grid_puts_sources_on_the_edges_and_transfers_in_the_cells():
    content = torch.stack([constant_clip(-0.5), constant_clip(0.0)])  # 2 content sources
    motion = torch.stack([constant_clip(0.5), constant_clip(1.0), constant_clip(-1.0)])  # 3 motion sources
    transfers = torch.stack([torch.stack([constant_clip(0.1 * (3 * i + j)) for j in range(2)]) for i in range(3)])
    frames = swap_grid(content, motion, transfers)  # (T, 4*4, 3*4, 3)
    assert frames.shape == (3, 16, 12, 3)
    cell = lambda r, c: int(frames[0, 4 * r, 4 * c, 0])  # noqa: E731
    assert cell(0, 0) == 0  # the corner stays black
    assert [cell(0, 1), cell(0, 2)] == [round(0.5 * 127.5), round(127.5)]  # content sources along the top
    assert [cell(r, 0) for r in (1, 2, 3)] == [round(1.5 * 127.5), 255, 0]  # motion sources down the side
    assert cell(2, 1) == round((1 + 0.1 * 3) * 127.5)  # row = motion source 1, column = content source 0
    still = grid_filmstrips(frames, 4, 3)
    assert still.shape[0] == 4 * 4 + 3 * 8 and still.shape[1] == 3 * (3 * 4 + 2 * 4) + 2 * 16


def test_sources_are_distinct_characters_and_distinct_motions():
    items = [(None, {"character": i // 9, "motion": i % 9}) for i in range(90)]  # 10 characters x 9 motions
    content, motion = pick_sources(items, 3, 4)
    assert len({items[i][1]["character"] for i in content}) == 3
    assert len({items[i][1]["motion"] for i in motion}) == 4
    assert not {items[i][1]["character"] for i in content} & {items[i][1]["character"] for i in motion}


class Recorder(SimpleNamespace):
    def log_dict(self, values):
        self.logged.update(values)


@pytest.fixture
def module():
    quantizer = SimpleNamespace(num_groups=2, codebook_size=4)
    return Recorder(logged={}, quantizer=quantizer, hparams={"fps": 25.0}, target_bits=3.0)


def test_bitrate_reports_the_entropy_of_the_whole_split(module):
    histogram = torch.tensor([[5.0, 5.0, 5.0, 5.0], [10.0, 0.0, 0.0, 0.0]])  # 2 bits + 0 bits
    Bitrate().report(SimpleNamespace(), module, histogram)
    assert module.logged["rate/bits_per_frame"] == pytest.approx(2.0)
    assert module.logged["rate/kbps"] == pytest.approx(0.05)
    assert module.logged["rate/capacity_bits_per_frame"] == pytest.approx(2 * math.log2(4))
    assert module.logged["rate/fraction_of_capacity"] == pytest.approx(0.5)
    assert module.logged["rate/target_bits_per_frame"] == 3.0


def test_codebook_usage_counts_dead_entries_and_perplexity(module):
    histogram = torch.tensor([[5.0, 5.0, 5.0, 5.0], [10.0, 0.0, 0.0, 0.0]])
    trainer = SimpleNamespace(is_global_zero=False)
    CodebookUsage().report(trainer, module, histogram)
    assert module.logged["codebook/dead_fraction"] == pytest.approx(3 / 8)
    assert module.logged["codebook/perplexity_mean"] == pytest.approx(2.5)
    assert module.logged["codebook/perplexity_min"] == pytest.approx(1.0)


@pytest.mark.parametrize("stop", ["max_steps", "max_time"])
def test_last_checkpoint_holds_the_final_step_of_a_run_that_stops_between_intervals(tmp_path, stop):
    """`last` is the state training ended in, not the previous interval save (max_time stops anywhere)."""
    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.demos.boring_classes import BoringModel

    from motioncontent.callbacks import ResumableCheckpoint

    class StopAtStep5(Callback):  # what the Timer callback does when max_time runs out
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.should_stop or trainer.global_step == 5

    checkpoint = ResumableCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=4)
    trainer = Trainer(max_steps=5 if stop == "max_steps" else 100, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[checkpoint] + ([StopAtStep5()] if stop == "max_time" else []))
    trainer.fit(BoringModel())
    assert trainer.global_step == 5
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 5
    assert torch.load(tmp_path / "epoch=0-step=4.ckpt", weights_only=False)["global_step"] == 4
