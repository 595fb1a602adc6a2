"""Sprites as arrays on disk: rendering a source into the cache, importing and exporting the standard arrays.

The cache holds, per split, `{split}_video.npy` (N, 8, 64, 64, 3) uint8 and `{split}_labels.npz` (one int64
array per name in LABEL_NAMES). uint8 is 4x smaller than the original float32 arrays; dividing by 256 gives the
original values back exactly. Rendered splits list their characters in split-permutation order, each with its
9 motions in label order (the original loader's block order and shuffle are not reproduced).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from motioncontent.data.sprites.factors import (
    ATTRIBUTES,
    FRAME_SIZE,
    LABEL_NAMES,
    NUM_FRAMES,
    NUM_MOTIONS,
    NUM_OPTIONS,
    character_split,
    labels_of,
    sequence_labels,
)
from motioncontent.errors import DataError

SPLITS = ("train", "test")
# The file names SPYL, DBSE, C-DSVAE and others load (SPRITES.md 3.6).
STANDARD_FILES = tuple(f"sprites_{kind}_{split}.npy" for split in SPLITS for kind in ("X", "A", "D"))


def video_file(directory: Path, split: str) -> Path:
    return directory / f"{split}_video.npy"


def labels_file(directory: Path, split: str) -> Path:
    return directory / f"{split}_labels.npz"


def _write_labels(directory: Path, split: str, labels: dict[str, np.ndarray]) -> None:
    np.savez(labels_file(directory, split), **{name: np.asarray(labels[name], np.int64) for name in LABEL_NAMES})


def render_splits(
    directory: Path, render_character: Callable[[int], np.ndarray], split_seed: int, what: str
) -> dict[str, Any]:
    """Render every character of the seeded split into the cache folder; returns the counts."""
    counts: dict[str, Any] = {}
    for split, characters in zip(SPLITS, character_split(split_seed)):
        n = len(characters) * NUM_MOTIONS
        video = np.lib.format.open_memmap(
            video_file(directory, split), mode="w+", dtype=np.uint8, shape=(n, NUM_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
        )
        for k, character in enumerate(tqdm(characters, desc=f"{what} {split}", unit="character", mininterval=1)):
            video[k * NUM_MOTIONS : (k + 1) * NUM_MOTIONS] = render_character(int(character))
        video.flush()
        del video
        _write_labels(directory, split, sequence_labels(characters))
        counts[split] = {"sequences": n, "characters": len(characters)}
    return counts


def _class_indices(array: np.ndarray, num_classes: int, name: str, path: Path) -> np.ndarray:
    """Integer labels from one-hot arrays repeated over time ((N, 8, ..., k) or (N, ..., k)) or from integers."""
    if array.shape[-1] == num_classes and array.ndim >= 2 and array.dtype.kind == "f":
        if array.ndim == (4 if name == "A" else 3):  # repeated over the 8 frames: the first frame is enough
            array = array[:, 0]
        return np.asarray(array).argmax(-1).astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    raise DataError(f"{path} has shape {array.shape}; expected one-hot labels with {num_classes} classes")


def import_standard_arrays(directory: Path, npy_root: Path) -> dict[str, Any]:
    """Convert the standard float32 arrays (SPRITES.md 3.6) in npy_root into the uint8 cache layout."""
    counts: dict[str, Any] = {}
    for split in SPLITS:
        paths = {kind: npy_root / f"sprites_{kind}_{split}.npy" for kind in ("X", "A", "D")}
        x = np.load(paths["X"], mmap_mode="r", allow_pickle=False)
        if x.ndim != 5 or x.shape[2:] != (FRAME_SIZE, FRAME_SIZE, 3):
            raise DataError(f"{paths['X']} has shape {x.shape}; expected (N, T, 64, 64, 3)")
        attributes = _class_indices(np.load(paths["A"], allow_pickle=False), NUM_OPTIONS, "A", paths["A"])
        motions = _class_indices(np.load(paths["D"], allow_pickle=False), NUM_MOTIONS, "D", paths["D"])
        if attributes.shape != (len(x), len(ATTRIBUTES)) or motions.shape != (len(x),):
            raise DataError(f"labels in {npy_root} do not match the {len(x)} sequences of {paths['X']}")
        video = np.lib.format.open_memmap(video_file(directory, split), mode="w+", dtype=np.uint8, shape=x.shape)
        for start in tqdm(range(0, len(x), 256), desc=f"npy {split}", unit="chunk", mininterval=1):
            chunk = np.asarray(x[start : start + 256], dtype=np.float32)
            if chunk.size and (chunk.min() < 0 or chunk.max() > 1):
                raise DataError(f"{paths['X']} has values outside [0, 1]; the standard arrays hold uint8 / 256")
            video[start : start + 256] = np.clip(np.rint(chunk * 256.0), 0, 255).astype(np.uint8)
        video.flush()
        del video
        labels = labels_of(attributes @ np.array([216, 36, 6, 1]), motions)
        _write_labels(directory, split, labels)
        counts[split] = {"sequences": len(x), "characters": int(len(np.unique(labels["character"])))}
    return counts


def check_standard_arrays(npy_root: Path) -> Path:
    npy_root = Path(npy_root).expanduser()
    for name in STANDARD_FILES:
        if not (npy_root / name).is_file():
            raise DataError(f"npy source: missing {npy_root / name} (the folder must hold sprites_{{X,A,D}}_"
                            "{train,test}.npy of the original benchmark)")
    return npy_root


def npy_fingerprint(npy_root: Path) -> list[list[Any]]:
    """Names, sizes and modification times: hashing 4.6 GB of float32 on every start would cost seconds."""
    return [[name, (npy_root / name).stat().st_size, (npy_root / name).stat().st_mtime_ns] for name in STANDARD_FILES]


def export_standard_arrays(directory: Path, out: Path) -> list[Path]:
    """Write the cache as the standard float32 arrays (for comparisons with other codebases); atomic per file."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in SPLITS:
        video = np.load(video_file(directory, split), mmap_mode="r", allow_pickle=False)
        labels = np.load(labels_file(directory, split), allow_pickle=False)
        n = len(video)
        onehot_a = np.zeros((n, NUM_FRAMES, len(ATTRIBUTES), NUM_OPTIONS), np.float32)
        for i, name in enumerate(ATTRIBUTES):
            onehot_a[np.arange(n), :, i, labels[name]] = 1.0
        onehot_d = np.zeros((n, NUM_FRAMES, NUM_MOTIONS), np.float32)
        onehot_d[np.arange(n), :, labels["motion"]] = 1.0
        for kind, array in (("A", onehot_a), ("D", onehot_d)):
            written.append(_atomic_save(out / f"sprites_{kind}_{split}.npy", lambda f, a=array: np.save(f, a)))
        final = out / f"sprites_X_{split}.npy"
        tmp = final.with_name(final.name + ".partial")
        x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=video.shape)
        for start in range(0, n, 256):
            x[start : start + 256] = video[start : start + 256].astype(np.float32) / 256.0
        x.flush()
        del x
        tmp.replace(final)
        written.append(final)
    return written


def _atomic_save(path: Path, save: Callable[[Any], None]) -> Path:
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        save(f)
    tmp.replace(path)
    return path
