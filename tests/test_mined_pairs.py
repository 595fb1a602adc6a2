"""Content partners mined without labels: the mining (data/mined_pairs.py), the dataset that uses the partners, and
the callback that mines them part-way through a run (callbacks/content_partners.py)."""

import logging

import lightning
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motioncontent.callbacks import content_partners
from motioncontent.callbacks.content_partners import MineContentPartners, shared_table
from motioncontent.data.mined_pairs import NO_PARTNER, mine_content_partners, motion_signature
from motioncontent.data.sprites_datamodule import PartnerContent
from motioncontent.errors import MotionContentError
from motioncontent.systems import BCDModule
from tiny_models import TINY_BCD


def one_hot_codes(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """(M, T, N) codes -> (M, T * N * E), as eval/probes.bcd_features flattens them."""
    return F.one_hot(codes, codebook_size).flatten(1).float()


def test_motion_signature_ignores_the_frame_order_and_tells_motions_apart():
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 8, (1, 6, 3), generator=g)
    shifted = codes.roll(2, dims=1)  # the same motion from another phase
    other = (codes + 1) % 8
    signature = motion_signature(one_hot_codes(torch.cat([codes, shifted, other]), 8), num_frames=6)
    assert signature.shape == (3, 24)
    torch.testing.assert_close(signature.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(signature[0], signature[1])
    assert float(signature[0] @ signature[2]) < 0.5


def test_partners_are_the_nearest_content_among_clips_that_move_otherwise():
    """20 characters x 3 motions: content = the character's vector and a motion part whose changes are larger than
    the gaps between characters, so the nearest content overall is another character with the same motion; among the
    clips that move otherwise, the same character."""
    g = torch.Generator().manual_seed(0)
    characters, motions = torch.arange(20).repeat_interleave(3), torch.arange(3).repeat(20)
    content = torch.cat([torch.randn(20, 32, generator=g)[characters], 8 * F.one_hot(motions, 3)], dim=1)
    signature = F.one_hot(motions, 3).float()
    overall = F.normalize(content - content.mean(0), dim=1) @ F.normalize(content - content.mean(0), dim=1).T
    nearest = overall.fill_diagonal_(-2).argmax(1)
    assert (characters[nearest] != characters).float().mean() > 0.5  # the motion dominates the raw neighbours
    partner = mine_content_partners(content, signature, chunk=7)  # chunks that do not divide 60
    assert partner.shape == (60, 8)  # padded to max_partners
    paired = partner != NO_PARTNER
    assert paired[:, 0].all() and (characters[partner[:, 0]] == characters).all()  # the nearest first
    i, j = torch.nonzero(paired, as_tuple=True)[0], partner[paired]
    assert (motions[j] != motions[i]).all() and (j != i).all()
    alone = mine_content_partners(content, torch.ones(60, 1))  # every clip moves alike: nobody to pair with
    assert (alone == NO_PARTNER).all()


def test_checked_partners_reach_across_a_turn_that_plain_neighbours_miss():
    """40 characters x 6 motions, three seen from the side and three from the front, where a turn changes much of
    what content sees: the nearest content in a turned motion is another character for a quarter of the clips. The
    mutual and shared-partner checks keep turned partners that are the same character, the nearest alone none."""
    g = torch.Generator().manual_seed(0)
    characters, motions = torch.arange(40).repeat_interleave(6), torch.arange(6).repeat(40)
    turned = motions >= 3
    identity = torch.randn(40, 16, generator=g)[characters]
    seen = torch.where(turned[:, None], 0.7 * identity + 0.7 * identity @ torch.randn(16, 16, generator=g) / 4,
                       identity) + 0.3 * torch.randn(240, 16, generator=g)
    content = torch.cat([seen, 3 * F.one_hot(turned.long(), 2)], dim=1)
    signature = F.one_hot(motions, 6).float()
    x = F.normalize(content - content.mean(0), dim=1)
    across = (x @ x.T).masked_fill((turned[:, None] == turned[None]) | (motions[None] % 3 != 0), -2).argmax(1)
    assert (characters[across] == characters).float().mean() < 0.85  # plain neighbours across the turn

    def turned_pairs(partner):
        i, j = torch.nonzero(partner != NO_PARTNER, as_tuple=True)[0], partner[partner != NO_PARTNER]
        cross = turned[i] != turned[j]
        return i[cross], j[cross]

    i, j = turned_pairs(mine_content_partners(content, signature))
    assert len(torch.unique(i)) > 80 and (characters[i] == characters[j]).float().mean() > 0.95
    assert len(turned_pairs(mine_content_partners(content, signature, min_shared=99))[0]) == 0  # the nearest only


class LabelledClips(torch.utils.data.Dataset):
    """Clips of 8 frames at 32 px, each filled with its own index (so a frame tells which clip it came from), with
    Sprites' character and direction labels (0 is front)."""

    def __init__(self, characters: list[int]):
        directions = ([0, 1, 2, 1, 1, 0] * len(characters))[:len(characters)]
        self.labels = {"character": np.array(characters), "direction": np.array(directions)}

    def __len__(self) -> int:
        return len(self.labels["character"])

    def label(self, name: str):
        return self.labels[name]

    def __getitem__(self, i: int):
        return torch.full((8, 3, 32, 32), i / 100), {"character": int(self.labels["character"][i])}


class ClipsData(lightning.LightningDataModule):
    def __init__(self, characters: list[int]):
        super().__init__()
        self.characters, self.train_set = characters, None

    def setup(self, stage: str) -> None:
        self.train_set = LabelledClips(self.characters)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.train_set, batch_size=2)


def clip_index(video: torch.Tensor) -> int:
    return round(float(video.flatten()[0]) * 100)


def test_workers_see_partners_written_after_they_started():
    """The table lives in shared memory: persistent DataLoader workers read what the callback writes later."""
    table = shared_table(4, max_partners=2)
    dataset = PartnerContent(LabelledClips([0, 0, 1, 1]), prob=1.0, partner=table)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=1, persistent_workers=True)
    before = next(iter(loader))[0]
    assert [clip_index(v[0]) for v in before] == [0, 1, 2, 3]  # no partners yet: every clip its own content
    table.copy_(torch.tensor([[1, NO_PARTNER], [0, NO_PARTNER], [NO_PARTNER, NO_PARTNER], [2, NO_PARTNER]]))
    after = next(iter(loader))[0]
    assert [clip_index(v[0]) for v in after] == [1, 0, 2, 2]  # content segment (frames 0-3) from the partner
    assert [clip_index(v[4]) for v in after] == [0, 1, 2, 3]  # motion segment (frames 4-7) always the clip's own


def test_each_access_draws_one_of_the_clips_partners():
    table = torch.tensor([[1, 2, NO_PARTNER], [NO_PARTNER] * 3, [0, NO_PARTNER, NO_PARTNER]])
    dataset = PartnerContent(LabelledClips([0, 0, 0]), prob=1.0, partner=table)
    torch.manual_seed(0)
    assert {clip_index(dataset[0][0][0]) for _ in range(40)} == {1, 2}
    assert clip_index(dataset[1][0][0]) == 1 and clip_index(dataset[2][0][0]) == 0


def fit(callback, data, max_steps, ckpt_path=None, root=None):
    torch.manual_seed(0)
    trainer = lightning.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
                                default_root_dir=root)
    trainer.fit(BCDModule(**TINY_BCD), datamodule=data, ckpt_path=ckpt_path)
    return trainer


def test_the_callback_mines_at_each_point_of_the_budget_and_a_resume_keeps_the_partners(monkeypatch, tmp_path,
                                                                                          caplog):
    """Six clips of three characters. The model's features are replaced by designed ones: content tells the
    characters apart, and each clip moves otherwise than the other clip of its character."""
    caplog.set_level(logging.INFO)
    characters = [0, 1, 2, 0, 1, 2]
    content = F.one_hot(torch.tensor(characters), 3).float() + 0.01 * torch.arange(6.0)[:, None]
    codes = F.one_hot(torch.tensor([0, 1, 2, 3, 4, 5]).repeat_interleave(8).view(6, 8, 1), 6).flatten(1).float()
    steps_seen = []

    def features(model, dataset):
        steps_seen.append(model.trainer.global_step)
        assert isinstance(dataset, LabelledClips)  # the clips themselves, not the pairing view
        return content, codes

    monkeypatch.setattr(content_partners, "bcd_features", features)
    # min_shared beyond reach: every clip keeps only its nearest, the other clip of its character
    callback = MineContentPartners(prob=1.0, at=[0.5, 0.25], min_shared=99, max_partners=2)
    data = ClipsData(characters)
    trainer = fit(callback, data, max_steps=4)
    assert steps_seen == [1, 2]  # once at each point: global_step / max_steps reached 0.25, then 0.5
    # pairs (0, 3), (2, 5) and their mirrors join a front view with a side view: 4 of the 6 face a turned way
    assert ("6 of 6 clips, 6 pairs, 100.0% of them of the same character, 66.7% facing a turned way"
            in caplog.text)
    assert callback.dataset is data.train_set
    assert callback.dataset.partner.tolist() == [[3, NO_PARTNER], [4, NO_PARTNER], [5, NO_PARTNER], [0, NO_PARTNER],
                                                 [1, NO_PARTNER], [2, NO_PARTNER]]
    video, labels = data.train_set[0]
    assert clip_index(video[0]) == 3 and clip_index(video[4]) == 0 and labels == {"character": 0}
    trainer.save_checkpoint(tmp_path / "run.ckpt")

    resumed, data = MineContentPartners(prob=1.0, at=[0.25, 0.5], min_shared=99, max_partners=2), ClipsData(characters)
    fit(resumed, data, max_steps=6, ckpt_path=tmp_path / "run.ckpt")
    assert steps_seen == [1, 2]  # not mined again: the checkpoint held the partners and the rounds done
    assert data.train_set.partner[:, 0].tolist() == [3, 4, 5, 0, 1, 2]


def test_the_callback_refuses_labelled_pairing_and_bad_settings():
    with pytest.raises(MotionContentError, match="0 < prob <= 1"):
        MineContentPartners(prob=0.0)
    with pytest.raises(MotionContentError, match="points 0 <= at < 1"):
        MineContentPartners(at=[0.5, 1.0])
    data = ClipsData([0, 1])
    data.setup("fit")
    data.train_set = PartnerContent(data.train_set, prob=0.5, partner=shared_table(2, max_partners=1))
    data.setup = lambda stage: None  # keep the already paired set
    with pytest.raises(MotionContentError, match="content_pairing_prob: 0"):
        fit(MineContentPartners(), data, max_steps=1)
