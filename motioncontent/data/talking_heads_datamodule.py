"""TalkingHeadDataModule: talking-head clips, synthetic (the default, no data needed) or from your own videos.

- `source: synthetic` renders the project's parametric faces (data/talking_heads/synthetic_faces.py) once into
  a verified cache under `data_dir`, with ground-truth identity and motion factors.
- `source: folder` reads a clip cache made by `motioncontent data talking-heads --src VIDEOS --dst CACHE`
  (data/talking_heads/preprocess.py). Given `root` (a folder of raw videos or a .txt list), prepare_data runs
  that preprocessing itself first; it is resumable, so later starts only check what is done.

Splits are by identity, never by clip, so validation and test people are unseen in training
(clips.split_identities). Batches are `(video, labels)`: video float (B, T, C, H, W) in [-1, 1], T = num_frames;
labels a dict (`character` = identity index, `clip`, `start`, and for synthetic clips the identity factors and
per-frame `factors` (B, T, 8) in synthetic_motion.MOTION_FACTORS order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from lightning.pytorch.utilities import rank_zero_info

from motioncontent.data.cache import load_or_build, read_manifest
from motioncontent.data.loaders import ClipLoaders
from motioncontent.data.talking_heads.clips import Clip, ClipWindows, split_identities
from motioncontent.data.talking_heads.face_crop import CropSettings
from motioncontent.data.talking_heads.preprocess import (MANIFEST_NAME, PreprocessSettings, default_cache_dir,
                                                        default_workers, preprocess)
from motioncontent.data.talking_heads.sources import identity_of
from motioncontent.errors import DataError

Source = Literal["synthetic", "folder"]


class TalkingHeadDataModule(ClipLoaders):
    """Talking-head clips of `num_frames` frames at `image_size` px and `fps`.

    Args:
        source: `synthetic` (default) or `folder` (a preprocessed cache; see the module docstring).
        cache_dir: the folder cache (the --dst of `motioncontent data talking-heads`). Default with `root`:
            `<data_dir>/talking_heads/<root name>`.
        root: raw videos (folder or .txt list) that prepare_data preprocesses into cache_dir with `crop`,
            `workers`, image_size, fps and clip_len = num_frames. For the other preprocessing options run the
            command instead.
        data_dir: where the synthetic cache is written (`<data_dir>/talking_heads/synthetic_<size>`).
        image_size, fps, num_frames: frame side, frame rate and window length (the model's clip length).
        identity_level, identity_regex: re-derive identities from the clips' source paths (sources.identity_of);
            None keeps the identities the cache was built with.
        val_fraction, test_fraction, split_seed: shares of identities held out, chosen by a seeded hash of their
            names; test_identities: a regex that fixes the test identities instead (e.g. VoxCeleb1's test ids).
        eval_windows_per_clip: evenly spaced fixed windows per clip for validation and test.
        num_identities, clips_per_identity, clip_frames, render_seed: the synthetic set.
        batch_size, num_workers, pin_memory: DataLoader settings (batch_size per device).
    """

    channels = 3

    def __init__(
        self,
        source: Source = "synthetic",
        cache_dir: str | None = None,
        root: str | None = None,
        data_dir: str = "data",
        image_size: int = 64,
        fps: float = 25.0,
        num_frames: int = 16,
        crop: Literal["none", "box", "detect"] = "detect",
        workers: int | None = None,
        identity_level: int | None = None,
        identity_regex: str | None = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.1,
        test_identities: str | None = None,
        split_seed: int = 0,
        eval_windows_per_clip: int = 1,
        num_identities: int = 400,
        clips_per_identity: int = 4,
        clip_frames: int = 32,
        render_seed: int = 0,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        if source not in ("synthetic", "folder"):
            raise DataError(f"unknown talking-head source '{source}'; choose synthetic or folder")
        if source == "folder" and not (cache_dir or root):
            raise DataError("source 'folder' needs data.cache_dir (made by `motioncontent data talking-heads`) "
                            "or data.root (a folder of videos to preprocess)")
        if source == "synthetic" and num_frames > clip_frames:
            raise DataError(f"num_frames={num_frames} is longer than the synthetic clips (clip_frames={clip_frames})")
        self.source, self.root = source, root
        self.data_dir = Path(data_dir)
        self.image_size, self.fps, self.num_frames = image_size, float(fps), num_frames
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        if source == "synthetic":
            self.cache_dir = self.data_dir / "talking_heads" / f"synthetic_{image_size}"
        else:
            self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir(root or "", self.data_dir)
        self.manifest: dict[str, Any] | None = None

    # ---- building --------------------------------------------------------------------------------------------
    def _synthetic_recipe(self) -> dict[str, Any]:
        from motioncontent.data.talking_heads.synthetic_faces import SYNTHETIC_RECIPE_VERSION

        h = self.hparams
        return {"dataset": "talking_heads", "source": "synthetic", "version": SYNTHETIC_RECIPE_VERSION,
                "seed": h.render_seed, "identities": h.num_identities, "clips_per_identity": h.clips_per_identity,
                "frames": h.clip_frames, "size": self.image_size, "fps": self.fps}

    def prepare_data(self) -> None:
        """Render the synthetic set, or preprocess `root`, when not done yet (one process per node)."""
        self._check_model()  # before a long build, not after it
        if self.source == "synthetic":
            from motioncontent.data.talking_heads.synthetic_set import build_synthetic

            h = self.hparams
            fill = lambda d: build_synthetic(d, h.num_identities, h.clips_per_identity, h.clip_frames,  # noqa: E731
                                             self.image_size, self.fps, h.render_seed)
            self.manifest = load_or_build(self.cache_dir, self._synthetic_recipe(), fill, "synthetic talking heads")
            return
        if self.root:
            settings = PreprocessSettings(fps=self.fps, size=self.image_size, crop=self.hparams.crop,
                                          clip_len=self.num_frames, face=CropSettings())
            result = preprocess(self.root, self.cache_dir, settings, workers=self.hparams.workers or default_workers())
            rank_zero_info(result.summary)
        self.manifest = self._folder_manifest()

    def _folder_manifest(self) -> dict[str, Any]:
        manifest = read_manifest_json(self.cache_dir)
        recipe = manifest.get("recipe", {})
        if recipe.get("size") != self.image_size or float(recipe.get("fps", 0)) != self.fps:
            raise DataError(f"the cache at {self.cache_dir} holds {recipe.get('size')} px clips at "
                            f"{recipe.get('fps')} fps; the data module asks for {self.image_size} px at {self.fps:g} "
                            f"fps (set data.image_size / data.fps, or preprocess again with --size / --fps)")
        for clip in manifest["clips"]:
            path = self.cache_dir / clip["file"]
            if not path.is_file() or path.stat().st_size != clip["bytes"]:
                raise DataError(f"{path} is missing or has the wrong size; run `motioncontent data talking-heads` "
                                f"again with the same --dst (it redoes only what is missing)")
        return manifest

    # ---- clips and splits ------------------------------------------------------------------------------------
    def _clips(self) -> tuple[list[Clip], dict[Path, np.ndarray]]:
        if self.source == "synthetic":
            from motioncontent.data.talking_heads.synthetic_set import synthetic_clips

            return synthetic_clips(self.cache_dir)
        clips, h = [], self.hparams
        for entry in (self.manifest or {})["clips"]:
            identity = entry["identity"]
            if h.identity_level is not None or h.identity_regex:
                identity = identity_of(entry["source"], h.identity_level or 0, h.identity_regex)
                if identity is None:
                    continue
            clips.append(Clip(self.cache_dir / entry["file"], entry["frames"], identity))
        if not clips:
            raise DataError(f"no clips in {self.cache_dir} (with identity_regex {h.identity_regex!r})")
        return clips, {}

    def setup(self, stage: str | None = None) -> None:
        self._check_model()
        if self.manifest is None:  # another process prepared the data (DDP), or a script skipped prepare_data
            if self.source == "synthetic":
                found = read_manifest(self.cache_dir)
                if found is None or found.get("recipe") != self._synthetic_recipe():
                    raise DataError(f"no synthetic cache matching this config at {self.cache_dir}; "
                                    f"run prepare_data() first")
                self.manifest = found
            else:
                self.manifest = self._folder_manifest()
        clips, factors = self._clips()
        h = self.hparams
        self.splits = split_identities([c.identity for c in clips], h.val_fraction, h.test_fraction, h.split_seed,
                                       h.test_identities, min_val=2)
        names = sorted({c.identity for c in clips})
        subsets = {split: [c for c in clips if c.identity in set(ids)] for split, ids in self.splits.items()}
        self.train_set = ClipWindows(subsets["train"], self.num_frames, names, random=True, factors=factors)
        self.val_set = ClipWindows(subsets["val"], self.num_frames, names, random=False,
                                   windows_per_clip=h.eval_windows_per_clip, factors=factors)
        self.test_set = ClipWindows(subsets["test"], self.num_frames, names, random=False,
                                    windows_per_clip=h.eval_windows_per_clip, factors=factors)

    def _check_model(self) -> None:
        """A model built for another frame size or rate fails deep inside; say so up front instead."""
        model = getattr(getattr(self, "trainer", None), "lightning_module", None)
        hparams = getattr(model, "hparams", {}) or {}
        for name, ours in (("image_size", self.image_size), ("channels", self.channels)):
            if name in hparams and hparams[name] != ours:
                raise DataError(f"model.{name}={hparams[name]} but the talking-head data has {name}={ours}; "
                                f"set both to the same value")

    def summary(self) -> str:
        """A few lines on what is loaded: source, cache, identities and windows per split."""
        lines = [f"talking heads ({self.source}): {self.cache_dir}, {self.image_size} px, {self.fps:g} fps, "
                 f"windows of {self.num_frames} frames"]
        for split in ("train", "val", "test"):
            dataset = getattr(self, f"{split}_set", None)
            if dataset is not None:
                lines.append(f"{split}: {len(self.splits[split])} identities, {len(dataset.clip_refs)} clips, "
                             f"{len(dataset)} windows")
        return "\n".join(lines)


def read_manifest_json(directory: Path) -> dict[str, Any]:
    """The manifest of a preprocessed folder cache, or a DataError saying how to make one."""
    manifest = read_manifest(directory) if (directory / MANIFEST_NAME).is_file() else None
    if not manifest or "clips" not in manifest:
        raise DataError(f"no talking-head cache at {directory} ({MANIFEST_NAME} missing); make one with "
                        f"`motioncontent data talking-heads --src VIDEOS --dst {directory}`")
    return manifest
