"""Clips on disk -> training items: an identity split and fixed-length windows.

A clip is a uint8 array (frames, H, W, 3) in a .npy file, or one row of a stacked (N, frames, H, W, 3) file (the
synthetic cache). Items are windows of `num_frames` consecutive frames: random in training (a new start on every
access, so long clips give many different windows), fixed and evenly spaced for validation and test.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from motioncontent.data.transforms import uint8_to_signed
from motioncontent.errors import DataError


@dataclass(frozen=True)
class Clip:
    """Where a clip's frames are, and what it is: `row` indexes a stacked file (None for a one-clip file)."""

    file: Path
    frames: int
    identity: str
    row: int | None = None
    labels: dict[str, int] = field(default_factory=dict)  # extra integer labels (synthetic identity factors)


# ---- split by identity --------------------------------------------------------------------------------------
def _rank(identity: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{identity}".encode()).hexdigest()


def split_identities(identities: list[str], val_fraction: float, test_fraction: float, seed: int = 0,
                     test_regex: str | None = None, min_val: int = 1) -> dict[str, list[str]]:
    """{"train", "val", "test"}: disjoint sorted lists of identities.

    `test_regex` fixes the test identities (e.g. VoxCeleb1's id10270-id10309: `id10(2[7-9]|30)\\d`); otherwise
    the test and validation shares are the identities that come first when ordered by a seeded hash of their
    names: at least one test and `min_val` validation identities when the share is positive (the data module
    asks for 2, so a motion-transfer grid has a second person to take motion from). A name's rank depends on the
    name alone, so adding people moves only identities near the split boundaries, never the whole split.
    """
    unique = sorted(set(identities))
    if test_regex:
        test = [i for i in unique if re.search(test_regex, i)]
        rest = [i for i in unique if i not in set(test)]
        n_test = 0
    else:
        test, rest = [], unique
        n_test = int(np.ceil(test_fraction * len(unique))) if test_fraction > 0 else 0
    n_val = max(min_val, int(np.ceil(val_fraction * len(unique)))) if val_fraction > 0 else 0
    if n_test + n_val >= len(rest):
        raise DataError(f"{len(unique)} identities cannot be split into train/val/test by identity "
                        f"(val {val_fraction:g}, test {test_fraction:g}"
                        + (f", {len(test)} matching the test regex" if test_regex else "")
                        + "); add identities or lower the fractions")
    ordered = sorted(rest, key=lambda i: _rank(i, seed))
    test = sorted(test + ordered[:n_test])
    val = sorted(ordered[n_test : n_test + n_val])
    train = sorted(ordered[n_test + n_val :])
    return {"train": train, "val": val, "test": test}


# ---- datasets -----------------------------------------------------------------------------------------------
class ClipWindows(Dataset):
    """Windows of `num_frames` frames; item = (video (T, C, H, W) float in [-1, 1], labels).

    labels: `character` (the identity's index in `identity_names`, the name the project's callbacks read for the
    content label), `clip` (index in `clip_refs`; not named `clips`, which SampleGrid reads as a wrapped
    dataset), `start` (first frame of the window), plus each clip's own integer labels, and `factors` (T, F)
    float32 when per-frame factors were given (synthetic clips).

    Training (`random=True`): len = the number of whole windows in all clips, so every clip is seen in proportion
    to its length; item i belongs to one clip and starts anywhere in it. Evaluation: `windows_per_clip` evenly
    spaced windows per clip, the same on every pass.
    """

    def __init__(self, clips: list[Clip], num_frames: int, identity_names: list[str], random: bool,
                 windows_per_clip: int = 1, factors: dict[Path, np.ndarray] | None = None):
        short = [c for c in clips if c.frames < num_frames]
        if short:
            raise DataError(f"{len(short)} clips are shorter than num_frames={num_frames} (e.g. {short[0].file}, "
                            f"{short[0].frames} frames); preprocess with --clip_len {num_frames} or more")
        self.clip_refs, self.num_frames, self.random = clips, num_frames, random
        self.identity_index = {name: i for i, name in enumerate(identity_names)}
        self.factors = factors or {}
        if random:
            counts = [c.frames // num_frames for c in clips]
            self.items = [(k, None) for k, n in enumerate(counts) for _ in range(n)]
        else:
            self.items = []
            for k, c in enumerate(clips):
                n = min(windows_per_clip, c.frames // num_frames)
                starts = np.linspace(0, c.frames - num_frames, n + 2)[1:-1] if n > 1 else [(c.frames - num_frames) // 2]
                self.items += [(k, int(s)) for s in starts]
        self._arrays: dict[Path, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps are opened per process: pickled into a DataLoader worker they would be copied whole.
        return {**self.__dict__, "_arrays": {}}

    def _array(self, path: Path) -> np.ndarray:
        if path not in self._arrays:
            self._arrays[path] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._arrays[path]

    def __len__(self) -> int:
        return len(self.items)

    def window(self, i: int) -> tuple[Clip, int]:
        k, start = self.items[i]
        clip = self.clip_refs[k]
        if start is None:  # torch's RNG: seeded per worker by Lightning, so seeded runs repeat their windows
            start = int(torch.randint(clip.frames - self.num_frames + 1, ()))
        return clip, start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        clip, start = self.window(i)
        array = self._array(clip.file)
        frames = array[clip.row] if clip.row is not None else array
        video = torch.from_numpy(np.array(frames[start : start + self.num_frames])).permute(0, 3, 1, 2)
        labels: dict[str, Any] = {"character": self.identity_index[clip.identity], "clip": self.items[i][0],
                                  "start": start, **clip.labels}
        if clip.file in self.factors and clip.row is not None:
            labels["factors"] = torch.from_numpy(
                np.asarray(self.factors[clip.file][clip.row, start : start + self.num_frames], np.float32))
        return uint8_to_signed(video), labels
