"""The synthetic talking-head dataset: `num_identities` people x `clips_per_identity` clips, rendered once into
a verified cache (data/cache.py) with their ground-truth factors.

Files: `clips.npy` uint8 (N, frames, size, size, 3) and `factors.npz`:
- `identity` (N,) int64: the person of each clip (clips of one person are consecutive rows);
- one (N,) int64 array per categorical identity factor (synthetic_faces.IDENTITY_FACTORS);
- `proportions` (N, len(PROPORTIONS)) float32 and `proportion_names`;
- `motion` (N, frames, len(MOTION_FACTORS)) float32 and `motion_names`.
Every identity and clip has its own seed derived from `seed`, so the set is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from motioncontent.data.talking_heads.clips import Clip
from motioncontent.data.talking_heads.synthetic_faces import (
    IDENTITY_FACTORS,
    PROPORTIONS,
    Identity,
    render_clip,
)
from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS

CLIPS_FILE = "clips.npy"
FACTORS_FILE = "factors.npz"


def identity_name(i: int) -> str:
    return f"synth{i:05d}"


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def build_synthetic(directory: Path, num_identities: int, clips_per_identity: int, frames: int, size: int,
                    fps: float, seed: int, progress: bool = True) -> dict[str, Any]:
    """Render the set into `directory` (a cache build folder); returns its counts."""
    n = num_identities * clips_per_identity
    video = np.lib.format.open_memmap(directory / CLIPS_FILE, mode="w+", dtype=np.uint8,
                                      shape=(n, frames, size, size, 3))
    motion = np.zeros((n, frames, len(MOTION_FACTORS)), np.float32)
    identity = np.repeat(np.arange(num_identities), clips_per_identity)
    categorical = {name: np.zeros(n, np.int64) for name in IDENTITY_FACTORS}
    proportions = np.zeros((n, len(PROPORTIONS)), np.float32)
    for i in tqdm(range(num_identities), desc="synthetic talking heads", unit="identity", mininterval=1,
                  disable=not progress):
        person = Identity.sample(np.random.default_rng(_seed(seed, 0, i)))
        for j in range(clips_per_identity):
            k = i * clips_per_identity + j
            video[k], motion[k] = render_clip(person, frames, fps, size, _seed(seed, 1, i, j))
            for name, value in person.labels().items():
                categorical[name][k] = value
            proportions[k] = [getattr(person, name) for name in PROPORTIONS]
    video.flush()
    del video
    np.savez(directory / FACTORS_FILE, identity=identity, proportions=proportions, motion=motion,
             proportion_names=np.array(list(PROPORTIONS)), motion_names=np.array(MOTION_FACTORS), **categorical)
    return {"identities": num_identities, "clips": n, "frames": n * frames}


def synthetic_clips(directory: Path) -> tuple[list[Clip], dict[Path, np.ndarray]]:
    """The clips of a built synthetic cache, and its per-frame motion factors (for ClipWindows)."""
    path = directory / CLIPS_FILE
    shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    with np.load(directory / FACTORS_FILE, allow_pickle=False) as factors:
        identity = factors["identity"]
        categorical = {name: factors[name] for name in IDENTITY_FACTORS}
        motion = factors["motion"]
    clips = [Clip(path, shape[1], identity_name(int(identity[k])), row=k,
                  labels={name: int(values[k]) for name, values in categorical.items()})
             for k in range(shape[0])]
    return clips, {path: motion}
