"""TalkingHeadLatentDataModule: talking-head training clips encoded once by a frozen frame codec (a latent cache).

BCD on latents spends most of an on-the-fly training step in the codec's encoder (benchmarks/latent_speed.py), and
a clip is re-encoded every epoch. Here every frame of every training clip is encoded in one pass (progress bar)
into `latents.npy` (float16, (frames, c, h, w), all clips one after another) plus `offsets.npy` and a manifest
(data/cache.py: checksums, written to a temporary folder and renamed). The recipe holds the codec's fingerprint
and the list of clips, so another codec file or other clips rebuild it. Training windows are cut from the cached
clips exactly as ClipWindows cuts frames; validation and test stay frames, so sample grids and metrics see
pixels. The codec's encode passes latents through (FrozenCodec.is_latent), so BCDModule needs no switch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from motioncontent.data.cache import load_or_build
from motioncontent.data.talking_heads.clips import ClipWindows
from motioncontent.data.talking_heads_datamodule import TalkingHeadDataModule
from motioncontent.data.transforms import uint8_to_signed
from motioncontent.errors import DataError
from motioncontent.models.frame_codec import AutoencoderCodec

LATENTS_FILE, OFFSETS_FILE = "latents.npy", "offsets.npy"
RECIPE_VERSION = 1


class LatentClipWindows(ClipWindows):
    """The windows of a frame ClipWindows, read from cached latents: item = (latents (T, c, h, w) float32, labels)."""

    def __init__(self, frames: ClipWindows, directory: Path):
        self.__dict__.update(frames.__dict__)
        self._arrays = {}
        self.latent_file = directory / LATENTS_FILE
        self.offsets = np.load(directory / OFFSETS_FILE, allow_pickle=False)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        clip, start = self.window(i)
        k = self.items[i][0]
        first = int(self.offsets[k]) + start
        latents = torch.from_numpy(np.asarray(self._array(self.latent_file)[first : first + self.num_frames], np.float32))
        labels: dict[str, Any] = {"character": self.identity_index[clip.identity], "clip": k, "start": start,
                                  **clip.labels}
        if clip.file in self.factors and clip.row is not None:
            labels["factors"] = torch.from_numpy(
                np.asarray(self.factors[clip.file][clip.row, start : start + self.num_frames], np.float32))
        return latents, labels


class TalkingHeadLatentDataModule(TalkingHeadDataModule):
    """TalkingHeadDataModule whose training windows are read from a latent cache (validation and test: frames).

    Args (besides TalkingHeadDataModule's):
        codec_checkpoint: the FrameAutoencoderModule checkpoint BCD uses (= model.codec_checkpoint; checked).
        latent_dir: where the latents go (default: `<the clip cache>_latents`).
        encode_batch: frames per encoder call while building.
    """

    def __init__(self, *args: Any, codec_checkpoint: str = "", latent_dir: str | None = None, encode_batch: int = 64,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not codec_checkpoint:
            raise DataError("TalkingHeadLatentDataModule needs data.codec_checkpoint (the codec BCD uses)")
        self.codec_checkpoint, self.encode_batch = codec_checkpoint, encode_batch
        self.latent_dir = Path(latent_dir) if latent_dir else Path(f"{self.cache_dir}_latents")

    def _recipe(self, codec: AutoencoderCodec, clips: list[Any]) -> dict[str, Any]:
        listing = json.dumps([[str(c.file), c.row, c.frames] for c in clips]).encode()
        return {"dataset": "latents", "version": RECIPE_VERSION, "codec": int(codec.codec_fingerprint),
                "image_size": self.image_size, "clips": len(clips), "clip_list": hashlib.sha256(listing).hexdigest()}

    def _fill(self, directory: Path, codec: AutoencoderCodec, windows: ClipWindows) -> dict[str, Any]:
        clips = windows.clip_refs
        offsets = np.cumsum([0] + [c.frames for c in clips])
        shape = (int(offsets[-1]), codec.latent_channels, codec.latent_size, codec.latent_size)
        out = np.lib.format.open_memmap(directory / LATENTS_FILE, mode="w+", dtype=np.float16, shape=shape)
        with tqdm(total=shape[0], desc="encoding latents", unit="frame", mininterval=1) as progress:
            for k, clip in enumerate(clips):
                array = windows._array(clip.file)
                frames = array[clip.row] if clip.row is not None else array
                for s in range(0, clip.frames, self.encode_batch):
                    chunk = torch.from_numpy(np.array(frames[s : s + self.encode_batch])).permute(0, 3, 1, 2)
                    latents = codec.encode(uint8_to_signed(chunk)[None])[0]
                    out[offsets[k] + s : offsets[k] + s + len(chunk)] = latents.numpy().astype(np.float16)
                    progress.update(len(chunk))
        out.flush()
        del out
        np.save(directory / OFFSETS_FILE, offsets[:-1])
        return {"clips": len(clips), "frames": shape[0], "latent_shape": list(shape[1:])}

    def prepare_data(self) -> None:
        super().prepare_data()
        super().setup("fit")  # the training windows whose clips are cached
        codec = AutoencoderCodec(self.codec_checkpoint, self.image_size)
        recipe = self._recipe(codec, self.train_set.clip_refs)
        with torch.no_grad():
            load_or_build(self.latent_dir, recipe, lambda d: self._fill(d, codec, self.train_set), "latent")

    def setup(self, stage: str | None = None) -> None:
        model = getattr(getattr(self, "trainer", None), "lightning_module", None)
        hparams = getattr(model, "hparams", None) or {}
        used = hparams.get("codec_checkpoint")
        if hparams and (used is None or Path(used).resolve() != Path(self.codec_checkpoint).resolve()):
            raise DataError(f"model.codec_checkpoint is {used} but the latent cache is made with "
                            f"{self.codec_checkpoint}; set both to the same file")
        super().setup(stage)
        if not (self.latent_dir / LATENTS_FILE).is_file():
            raise DataError(f"no latent cache at {self.latent_dir}; run prepare_data() first")
        self.train_set = LatentClipWindows(self.train_set, self.latent_dir)


__all__ = ["LatentClipWindows", "TalkingHeadLatentDataModule"]
