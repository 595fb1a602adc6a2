"""TalkingHeadDataModule: batches (B, T, C, H, W) in [-1, 1], identity splits that never share a person,
windows, folder caches (made beforehand or in prepare_data), and clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from talking_heads_media import make_video

from motioncontent.callbacks.sample_grid import pick_sources
from motioncontent.data import TalkingHeadDataModule
from motioncontent.data.talking_heads.clips import Clip, ClipWindows, split_identities
from motioncontent.data.talking_heads.preprocess import PreprocessSettings, preprocess
from motioncontent.errors import DataError

SMALL = dict(num_identities=12, clips_per_identity=2, clip_frames=20, image_size=32, num_frames=8, batch_size=4,
             val_fraction=0.1, test_fraction=0.2)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    dm = TalkingHeadDataModule(data_dir=str(tmp_path_factory.mktemp("data")), **SMALL)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_synthetic_batches_have_the_model_layout(synthetic):
    video, labels = next(iter(synthetic.train_dataloader()))
    assert video.shape == (4, 8, 3, 32, 32) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1 and video.max() > 0.5 and video.min() < -0.5
    assert labels["factors"].shape == (4, 8, 8) and labels["character"].shape == (4,)
    assert (synthetic.image_size, synthetic.channels, synthetic.fps, synthetic.num_frames) == (32, 3, 25.0, 8)


def test_splits_keep_people_apart(synthetic):
    people = {split: {c.identity for c in getattr(synthetic, f"{split}_set").clip_refs}
              for split in ("train", "val", "test")}
    assert not (people["train"] & people["val"] or people["train"] & people["test"] or people["val"] & people["test"])
    assert (len(people["train"]), len(people["val"]), len(people["test"])) == (7, 2, 3)


@pytest.mark.parametrize("seed, n, val, test", list(itertools.product([0, 1], [3, 10, 57], [0.0, 0.1], [0.1, 0.3])))
def test_split_identities_is_a_deterministic_partition(seed, n, val, test):
    names = [f"p{i}" for i in range(n)] * 3  # every person has several clips
    if n == 3 and val > 0:
        with pytest.raises(DataError, match="cannot be split"):
            split_identities(names, val, test, seed, min_val=2)
        return
    split = split_identities(names, val, test, seed)
    assert sorted(split["train"] + split["val"] + split["test"]) == sorted(set(names))
    assert len(split["test"]) == int(np.ceil(test * n)) and len(split["val"]) == int(np.ceil(val * n))
    assert split == split_identities(list(reversed(names)), val, test, seed)  # order of clips does not matter


def test_test_identities_by_regex():
    names = [f"id{10260 + i}" for i in range(60)]
    split = split_identities(names, 0.1, 0.0, test_regex=r"id10(2[7-9]|30)\d")
    assert split["test"] == [f"id{i}" for i in range(10270, 10310)]
    assert not set(split["val"]) & set(split["test"])


def test_windows_random_in_training_fixed_in_evaluation(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(50, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2)
            .repeat(3, 3))
    clip = Clip(tmp_path / "a.npy", 50, "a")
    train = ClipWindows([clip], 8, ["a"], random=True)
    assert len(train) == 6  # whole windows in 50 frames
    torch.manual_seed(0)
    starts = {int(train[0][1]["start"]) for _ in range(40)}
    assert len(starts) > 10 and min(starts) >= 0 and max(starts) <= 42
    video, labels = train[0]
    first = (video[:, 0, 0, 0] + 1) * 127.5
    assert torch.allclose(first, labels["start"] + torch.arange(8, dtype=torch.float32), atol=1e-3)  # consecutive
    evaluation = ClipWindows([clip], 8, ["a"], random=False, windows_per_clip=3)
    assert [evaluation[i][1]["start"] for i in range(3)] == [evaluation[i][1]["start"] for i in range(3)]
    assert [evaluation[i][1]["start"] for i in range(3)] == [10, 21, 31]
    with pytest.raises(DataError, match="shorter than num_frames=64"):
        ClipWindows([clip], 64, ["a"], random=True)


def _folder_cache(tmp_path, people=6):
    src = tmp_path / "videos"
    for k in range(people):
        (src / f"person{k}").mkdir(parents=True)
        make_video(src / f"person{k}" / "take.mp4", 24)
    return src


def test_folder_cache_from_the_command_and_from_prepare_data(tmp_path):
    src = _folder_cache(tmp_path)
    preprocess(src, tmp_path / "cache", PreprocessSettings(crop="none", size=32, clip_len=8), progress=False)
    dm = TalkingHeadDataModule(source="folder", cache_dir=str(tmp_path / "cache"), image_size=32, num_frames=8,
                               batch_size=2, val_fraction=0.1, test_fraction=0.1)
    dm.prepare_data()
    dm.setup("fit")
    video, labels = next(iter(dm.val_dataloader()))
    assert video.shape == (2, 8, 3, 32, 32) and "factors" not in labels
    assert sum(len(s) for s in dm.splits.values()) == 6
    # root: the data module preprocesses the raw folder itself (crop none here; detect is the default)
    dm = TalkingHeadDataModule(source="folder", root=str(src), crop="none", data_dir=str(tmp_path / "data"),
                               image_size=32, num_frames=8, batch_size=2, workers=1)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.cache_dir == tmp_path / "data" / "talking_heads" / "videos" and len(dm.train_set) > 0


def test_folder_cache_of_another_size_or_missing_is_a_clear_error(tmp_path):
    src = _folder_cache(tmp_path, people=3)
    preprocess(src, tmp_path / "cache", PreprocessSettings(crop="none", size=16, clip_len=8), progress=False)
    dm = TalkingHeadDataModule(source="folder", cache_dir=str(tmp_path / "cache"), image_size=64)
    with pytest.raises(DataError, match="holds 16 px clips"):
        dm.prepare_data()
    with pytest.raises(DataError, match="motioncontent data talking-heads --src VIDEOS"):
        TalkingHeadDataModule(source="folder", cache_dir=str(tmp_path / "nothing")).prepare_data()
    with pytest.raises(DataError, match="needs data.cache_dir"):
        TalkingHeadDataModule(source="folder")


def test_model_of_another_image_size_is_reported_before_building(tmp_path):
    class Model:
        hparams = {"image_size": 64, "channels": 3}

    class Trainer:
        lightning_module = Model()

    dm = TalkingHeadDataModule(data_dir=str(tmp_path), **SMALL)
    dm.trainer = Trainer()
    with pytest.raises(DataError, match="model.image_size=64 but the talking-head data has image_size=32"):
        dm.prepare_data()
    assert not any(tmp_path.iterdir())  # nothing was rendered


def test_sample_grid_finds_motion_sources_in_a_small_validation_set(synthetic):
    content, motion = pick_sources(synthetic.val_set, num_content=4, num_motion=4)
    assert len(content) == 2 and motion  # both people are content sources; motion falls back to other clips
