"""SpritesDataModule behaviour that does not depend on the source: selection, splits, reuse of the cache."""

import logging

import numpy as np
import pytest
import torch

from motioncontent.data import SpritesDataModule
from motioncontent.data.sprites import lpc
from motioncontent.errors import DataError


def test_auto_without_art_or_cache_falls_back_to_procedural_in_one_line(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        dm = SpritesDataModule(source="auto", data_dir=str(tmp_path))
    assert dm.source == "procedural"
    lines = [r.getMessage() for r in caplog.records if "procedural" in r.getMessage()]
    assert len(lines) == 1 and "SPRITES_LPC" in lines[0] and "\n" not in lines[0]


def test_auto_prefers_lpc_art(lpc_root, tmp_path):
    assert SpritesDataModule(source="auto", lpc_root=str(lpc_root), data_dir=str(tmp_path)).source == "lpc"


def test_unknown_source_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="unknown Sprites source 'lcp'"):
        SpritesDataModule(source="lcp", data_dir=str(tmp_path))


def test_cache_is_reused_without_the_art_and_without_rendering(lpc_datamodule, monkeypatch):
    def no_rendering(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(lpc, "LPCRenderer", no_rendering)
    # With the art: fingerprint matches, nothing is rendered.
    dm = SpritesDataModule(source="lpc", lpc_root=str(lpc_datamodule.lpc_root), data_dir=str(lpc_datamodule.data_dir))
    dm.prepare_data()
    # Without the art: auto finds the LPC cache and checks it against its own checksums.
    dm = SpritesDataModule(source="auto", data_dir=str(lpc_datamodule.data_dir))
    assert dm.source == "lpc"
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_set) == 9000


def test_held_out_validation_characters(lpc_datamodule):
    dm = SpritesDataModule(source="lpc", data_dir=str(lpc_datamodule.data_dir), val_characters=50)
    dm.setup("fit")
    train_chars = set(dm.train_set.labels["character"][dm.train_set.indices])
    val_chars = set(dm.val_set.labels["character"][dm.val_set.indices])
    test_chars = set(dm.test_set.labels["character"])
    assert (len(val_chars), len(dm.val_set), len(dm.train_set)) == (50, 450, 8550)
    assert not train_chars & val_chars and not val_chars & test_chars
    labels = next(iter(dm.val_dataloader()))[1]
    assert set(labels["character"].tolist()) <= val_chars


def test_setup_without_a_cache_says_so(tmp_path):
    dm = SpritesDataModule(source="procedural", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="not usable"):
        dm.setup("fit")


def test_train_loader_shuffles_and_drops_the_last_partial_batch(lpc_datamodule):
    dm = SpritesDataModule(source="lpc", data_dir=str(lpc_datamodule.data_dir), batch_size=1000)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == 9  # 9000 / 1000
    first = next(iter(loader))[1]["character"][:20].numpy()
    assert not np.array_equal(first, dm.train_set.labels["character"][:20])


def test_same_character_pairing_joins_two_motions_of_one_character(lpc_datamodule):
    dm = SpritesDataModule(source="lpc", data_dir=str(lpc_datamodule.data_dir), pairing="same_character", batch_size=4)
    dm.setup("fit")
    assert dm.num_frames == 16 and len(dm.train_set) == 9000 and len(dm.test_set) == 2664
    base = dm.train_set.clips
    for i in (0, 123, 8999):
        video, labels = dm.train_set[i]
        assert video.shape == (16, 3, 64, 64)
        torch.testing.assert_close(video[:8], base[i][0])  # the clip itself, then a partner
        same_character = np.flatnonzero(base.labels["character"] == base[i][1]["character"])  # its 9 clips
        partner = [k for k in same_character if torch.equal(base[k][0], video[8:])]
        assert len(partner) == 1
        partner_labels = base[partner[0]][1]
        assert partner_labels["character"] == base[i][1]["character"]
        assert partner_labels["motion"] != base[i][1]["motion"] and labels == partner_labels
    assert next(iter(dm.train_dataloader()))[0].shape == (4, 16, 3, 64, 64)
    assert dm.test_set[0][0].shape == (8, 3, 64, 64)  # evaluation sees single clips


def test_content_pairing_replaces_the_first_half_with_another_motion_of_the_character(lpc_datamodule):
    dm = SpritesDataModule(source="lpc", data_dir=str(lpc_datamodule.data_dir), content_pairing_prob=0.5)
    dm.setup("fit")
    base = dm.train_set.clips
    assert dm.num_frames == 8 and dm.val_set is dm.test_set  # validation keeps single clips
    torch.manual_seed(0)
    replaced = 0
    for i in range(0, 9000, 90):
        video, labels = dm.train_set[i]
        own, own_labels = base[i]
        assert video.shape == (8, 3, 64, 64) and labels == own_labels
        torch.testing.assert_close(video[4:], own[4:])  # the motion segment is always the clip's own
        if torch.equal(video[:4], own[:4]):
            continue
        replaced += 1
        same_character = np.flatnonzero(base.labels["character"] == own_labels["character"])
        sources = [k for k in same_character if torch.equal(base[k][0][:4], video[:4])]
        assert len(sources) == 1 and base[sources[0]][1]["motion"] != own_labels["motion"]
    assert 30 <= replaced <= 70  # about half of 100
    with pytest.raises(DataError, match="needs pairing: none"):
        SpritesDataModule(source="lpc", pairing="same_character", content_pairing_prob=0.3)
