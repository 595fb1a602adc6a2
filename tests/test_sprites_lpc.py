"""The real Sprites benchmark rendered from ../shared/lpc_assets, checked against SPRITES.md."""

import numpy as np
import pytest
from PIL import Image

from motioncontent.data import SpritesDataModule
from motioncontent.data.sprites import factors, lpc
from motioncontent.data.transforms import signed_to_uint8
from motioncontent.errors import DataError


def test_counts_and_labels(lpc_datamodule):
    dm = lpc_datamodule
    assert dm.manifest["counts"]["train"] == {"sequences": 9000, "characters": 1000}
    assert dm.manifest["counts"]["test"] == {"sequences": 2664, "characters": 296}
    assert (len(dm.train_set), len(dm.test_set)) == (9000, 2664)
    for dataset, n_characters in ((dm.train_set, 1000), (dm.test_set, 296)):
        labels = dataset.labels
        assert np.bincount(labels["motion"]).tolist() == [n_characters] * 9
        for name in factors.ATTRIBUTES:
            assert labels[name].min() == 0 and labels[name].max() == 5
        assert labels["character"].min() >= 0 and labels["character"].max() < 1296
        np.testing.assert_array_equal(labels["motion"], 3 * labels["action"] + labels["direction"])
    assert not set(dm.train_set.labels["character"]) & set(dm.test_set.labels["character"])


def test_first_test_characters_are_the_documented_ones(lpc_datamodule):
    characters = lpc_datamodule.test_set.labels["character"]
    first = [int(c) for c in characters[::9][:10]]  # 9 motions per character, in split order
    assert first == [884, 1285, 252, 297, 947, 713, 1063, 643, 299, 523]


def _full_sheet(root, skin, pants, top, hair):
    """The composite exactly as SPRITES.md 3.1 states it, on the full 832x1344 sheet."""
    canvas = Image.new("RGBA", (832, 1344), (0, 0, 0, 255))
    for name in (f"body/{skin}", f"bottomwear/{pants}", f"topwear/{top}", f"hair/{hair}", "shoes/1"):
        canvas = Image.alpha_composite(canvas, Image.open(root / f"{name}.png").convert("RGBA"))
    return np.asarray(canvas.convert("RGB"))


@pytest.mark.parametrize("position", [0, 1000, 2663])
def test_rendered_frames_equal_crops_of_the_composited_sheet(lpc_datamodule, lpc_root, position):
    dataset = lpc_datamodule.test_set
    video, labels = dataset[position]
    sheet = _full_sheet(lpc_root, labels["skin"], labels["pants"], labels["top"], labels["hair"])
    action = factors.ACTIONS[labels["action"]]
    row = {"walk": (10, 9, 11), "spellcast": (2, 1, 3), "slash": (14, 13, 15)}[action][labels["direction"]]
    columns = {"walk": (8, 1, 2, 3, 4, 5, 6, 7), "spellcast": (0, 1, 2, 3, 4, 5, 4, 6),
               "slash": (0, 1, 2, 3, 4, 5, 4, 0)}[action]
    frames = signed_to_uint8(video).permute(0, 2, 3, 1).numpy()
    for t, column in enumerate(columns):
        crop = sheet[64 * row : 64 * row + 64, 64 * column : 64 * column + 64]
        np.testing.assert_array_equal(frames[t], crop)
    assert (frames[1:] != frames[:-1]).any(axis=(1, 2, 3)).all()  # consecutive frames differ (SPRITES.md 3.3)


def test_batches_are_signed_video_with_integer_labels(lpc_datamodule):
    video, labels = next(iter(lpc_datamodule.val_dataloader()))
    assert video.shape == (32, 8, 3, 64, 64) and video.dtype.is_floating_point
    assert video.min() >= -1 and video.max() <= 1 and video.min() == -1  # black background
    assert set(labels) == set(factors.LABEL_NAMES)
    assert all(v.dtype.is_floating_point is False and v.shape == (32,) for v in labels.values())


def test_second_build_gives_the_same_bytes(lpc_datamodule, lpc_root, tmp_path):
    again = SpritesDataModule(source="lpc", lpc_root=str(lpc_root), data_dir=str(tmp_path))
    again.prepare_data()
    assert again.manifest["files"] == lpc_datamodule.manifest["files"]  # same sha256 for every file


def test_wrong_root_says_what_is_missing(tmp_path):
    (tmp_path / "body").mkdir()
    with pytest.raises(DataError, match=r"is missing body/0.png \(and 24 more\)"):
        SpritesDataModule(source="lpc", lpc_root=str(tmp_path), data_dir=str(tmp_path / "d")).prepare_data()
    with pytest.raises(DataError, match="does not exist"):
        SpritesDataModule(source="lpc", lpc_root=str(tmp_path / "nope"), data_dir=str(tmp_path / "d")).prepare_data()
    assert not (tmp_path / "d" / "sprites" / "lpc").exists()


def test_lpc_is_found_through_the_environment(lpc_root, monkeypatch, tmp_path):
    monkeypatch.setenv("SPRITES_LPC", str(lpc_root))
    assert SpritesDataModule(data_dir=str(tmp_path)).source == "lpc"
    assert lpc.check_lpc_root(lpc_root) == lpc_root
