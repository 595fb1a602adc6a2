"""The `npy` source: the standard float32 arrays of the original benchmark, and the exporter to them."""

import numpy as np
import pytest
import torch

from motioncontent.data import SpritesDataModule
from motioncontent.data.sprites import arrays, factors
from motioncontent.data.transforms import signed_to_uint8
from motioncontent.errors import DataError


def _standard_arrays(folder, n_train=18, n_test=9, seed=0):
    """Small arrays in the published layout: X float32 (N, 8, 64, 64, 3) = uint8 / 256, one-hot A and D."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for split, n in (("train", n_train), ("test", n_test)):
        pixels = rng.integers(0, 256, size=(n, 8, 64, 64, 3), dtype=np.uint8)
        characters = rng.integers(0, 1296, size=n)
        motions = rng.integers(0, 9, size=n)
        labels = factors.labels_of(characters, motions)
        a = np.zeros((n, 8, 4, 6), np.float32)
        for i, name in enumerate(factors.ATTRIBUTES):
            a[np.arange(n), :, i, labels[name]] = 1
        d = np.zeros((n, 8, 9), np.float32)
        d[np.arange(n), :, motions] = 1
        np.save(folder / f"sprites_X_{split}.npy", pixels.astype(np.float32) / 256.0)
        np.save(folder / f"sprites_A_{split}.npy", a)
        np.save(folder / f"sprites_D_{split}.npy", d)
        truth[split] = (pixels, labels)
    return truth


def test_standard_arrays_load_exactly(tmp_path):
    truth = _standard_arrays(tmp_path / "npy")
    dm = SpritesDataModule(source="npy", npy_root=str(tmp_path / "npy"), data_dir=str(tmp_path / "data"), batch_size=4)
    dm.prepare_data()
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.test_set)) == (18, 9)
    for dataset, (pixels, labels) in ((dm.train_set, truth["train"]), (dm.test_set, truth["test"])):
        for name in factors.LABEL_NAMES:
            np.testing.assert_array_equal(dataset.labels[name], labels[name])
        video, item_labels = dataset[3]
        np.testing.assert_array_equal(signed_to_uint8(video).permute(0, 2, 3, 1).numpy(), pixels[3])
        assert item_labels["motion"] == labels["motion"][3]
    video, labels = next(iter(dm.train_dataloader()))
    assert video.shape == (4, 8, 3, 64, 64) and labels["skin"].dtype == torch.int64


def test_missing_file_is_named(tmp_path):
    _standard_arrays(tmp_path / "npy")
    (tmp_path / "npy" / "sprites_A_test.npy").unlink()
    dm = SpritesDataModule(source="npy", npy_root=str(tmp_path / "npy"), data_dir=str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"missing .*sprites_A_test\.npy"):
        dm.prepare_data()
    with pytest.raises(DataError, match="needs data.npy_root"):
        SpritesDataModule(source="npy", data_dir=str(tmp_path / "data"))


def test_values_outside_the_unit_range_are_refused(tmp_path):
    _standard_arrays(tmp_path / "npy")
    x = np.load(tmp_path / "npy" / "sprites_X_test.npy")
    np.save(tmp_path / "npy" / "sprites_X_test.npy", x * 2 - 1)  # the [-1, 1] variant of another codebase
    dm = SpritesDataModule(source="npy", npy_root=str(tmp_path / "npy"), data_dir=str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        dm.prepare_data()
    assert not (tmp_path / "data" / "sprites" / "npy").exists()


def test_export_then_import_round_trips(tmp_path):
    truth = _standard_arrays(tmp_path / "npy")
    dm = SpritesDataModule(source="npy", npy_root=str(tmp_path / "npy"), data_dir=str(tmp_path / "data"))
    dm.prepare_data()
    written = arrays.export_standard_arrays(dm.cache_dir, tmp_path / "exported")
    assert sorted(p.name for p in written) == sorted(arrays.STANDARD_FILES)
    assert not list((tmp_path / "exported").glob("*.partial"))
    for name in arrays.STANDARD_FILES:
        np.testing.assert_array_equal(np.load(tmp_path / "exported" / name), np.load(tmp_path / "npy" / name))
    x = np.load(tmp_path / "exported" / "sprites_X_train.npy")
    assert x.dtype == np.float32 and x.max() <= 255 / 256
    np.testing.assert_array_equal((x * 256).astype(np.uint8), truth["train"][0])
