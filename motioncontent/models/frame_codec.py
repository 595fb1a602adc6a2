"""Frame codecs: the per-frame tokenizer of METHOD.md section 3 (frames <-> latent grids, one frame at a time).
BCD uses a pre-trained image VAE; here the default is lossless (pixels, optionally pixel-unshuffled), and the learned
codecs are the project's own trained autoencoder or a user's local diffusers AutoencoderKL, both frozen.

Frozen codecs are kept out of BCD's state_dict and optimizer: they are held outside the module tree (so neither
`parameters()` nor checkpoints see them, and `.train()` cannot switch them out of eval mode) and rebuilt from their
own file when a BCD checkpoint is loaded. A BCD checkpoint then stays the size of BCD's own networks (an SD VAE
alone is 335 MB) but needs the codec file at its recorded path; a persistent buffer, `codec_fingerprint`, records
which file it was, so a BCD checkpoint loaded with another codec stops with one line instead of decoding garbage.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from motioncontent.errors import MotionContentError


class FrameCodec(nn.Module):
    """Interface: encode (B, T, C, H, W) frames in [-1, 1] to (B, T, c, h, w) latents, and decode back.

    `latent_channels` and `latent_size` describe the latent grid so the networks can be sized from the codec.
    """

    latent_channels: int
    latent_size: int

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class PixelCodec(FrameCodec):
    """Pixels as latents, optionally pixel-unshuffled by `unshuffle` (a space-to-depth fold, lossless).

    Unshuffling trades spatial size for channels: 64x64x3 with unshuffle=4 is 16x16x48, so a DiT with patch 2
    sees 64 tokens per frame instead of 1024 at patch 2 on raw pixels. Latents are (pixels - shift) * scale:
    EDM's preconditioning assumes roughly zero-mean data with std sigma_data (0.5), while Sprites frames are 77%
    black background (mean -0.82, std 0.45 in [-1, 1]); shift -0.8 centres them.
    """

    def __init__(self, channels: int = 3, image_size: int = 64, unshuffle: int = 1, scale: float = 1.0,
                 shift: float = 0.0):
        super().__init__()
        if image_size % unshuffle:
            raise ValueError(f"image_size {image_size} is not divisible by unshuffle {unshuffle}")
        self.unshuffle = unshuffle
        self.scale = scale
        self.shift = shift
        self.latent_channels = channels * unshuffle**2
        self.latent_size = image_size // unshuffle

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        b = frames.shape[0]
        x = rearrange(frames, "b t c h w -> (b t) c h w")
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        return rearrange((x - self.shift) * self.scale, "(b t) c h w -> b t c h w", b=b)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b = latents.shape[0]
        x = rearrange(latents / self.scale + self.shift, "b t c h w -> (b t) c h w")
        if self.unshuffle > 1:
            x = F.pixel_shuffle(x, self.unshuffle)
        return rearrange(x, "(b t) c h w -> b t c h w", b=b)


def file_fingerprint(path: Path) -> int:
    """A 63-bit fingerprint of a file or of a folder's files (sha256 of names and contents), for an int64 buffer."""
    digest = hashlib.sha256()
    for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() if file != path else b"")
        with open(file, "rb") as f:
            while chunk := f.read(1 << 24):
                digest.update(chunk)
    return int(digest.hexdigest()[:15], 16)


class FrozenCodec(FrameCodec):
    """A frozen network codec: no gradients, eval mode, outside the module tree (see the module docstring).

    Subclasses set `self._network` (via `_hold`) and implement `_encode` / `_decode` on frames (N, C, H, W).
    """

    def __init__(self, source: Path, image_size: int, downsample: int, latent_channels: int):
        super().__init__()
        if image_size % downsample:
            raise MotionContentError(f"image_size {image_size} is not divisible by the codec's downsampling "
                                     f"factor {downsample} ({source})")
        self.latent_channels, self.latent_size = latent_channels, image_size // downsample
        self.source = source
        self.register_buffer("codec_fingerprint", torch.tensor(file_fingerprint(source), dtype=torch.int64))
        self._register_load_state_dict_pre_hook(self._check_fingerprint)

    def _hold(self, network: nn.Module) -> None:
        object.__setattr__(self, "_network", network.eval().requires_grad_(False))

    def _check_fingerprint(self, state: dict[str, Any], prefix: str, *args: Any) -> None:
        saved = state.get(prefix + "codec_fingerprint")
        if saved is not None and int(saved) != int(self.codec_fingerprint):
            raise MotionContentError(f"this BCD checkpoint was trained with another frame codec than {self.source} "
                                     f"(the file changed since); point codec_checkpoint at the codec it was trained with")

    def _network_on(self, x: torch.Tensor) -> nn.Module:
        network: nn.Module = self._network
        if next(network.parameters()).device != x.device:  # outside the module tree, so .to() does not move it
            network.to(x.device)
        return network

    def is_latent(self, x: torch.Tensor) -> bool:
        """Whether x (B, T, c, h, w) is already latents (a latent cache's batch) rather than frames; unambiguous, as
        a codec that downsamples makes latents smaller than frames."""
        return tuple(x.shape[-3:]) == (self.latent_channels, self.latent_size, self.latent_size)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        if self.is_latent(frames):
            return frames.float()
        b = frames.shape[0]
        z = self._encode(self._network_on(frames), rearrange(frames, "b t c h w -> (b t) c h w").float())
        return rearrange(z, "(b t) c h w -> b t c h w", b=b)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b = latents.shape[0]
        x = self._decode(self._network_on(latents), rearrange(latents, "b t c h w -> (b t) c h w").float())
        return rearrange(x.clamp(-1.0, 1.0), "(b t) c h w -> b t c h w", b=b)

    def _encode(self, network: Any, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _decode(self, network: Any, latents: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class AutoencoderCodec(FrozenCodec):
    """The project's FrameAutoencoder (models/autoencoder.py) from a FrameAutoencoderModule checkpoint: latents are
    the posterior means times the fitted scale (unit variance on the training frames), so encoding is deterministic."""

    def __init__(self, checkpoint: str | Path, image_size: int):
        from motioncontent.models.autoencoder import load_frame_autoencoder

        autoencoder = load_frame_autoencoder(checkpoint)
        super().__init__(Path(checkpoint), image_size, autoencoder.cfg.downsample, autoencoder.cfg.latent_channels)
        self._hold(autoencoder)
        self.latent_scale = float(autoencoder.latent_scale)

    def _encode(self, network: Any, frames: torch.Tensor) -> torch.Tensor:
        return network.encode(frames)

    def _decode(self, network: Any, latents: torch.Tensor) -> torch.Tensor:
        return network.decode(latents)


class DiffusersVAECodec(FrozenCodec):
    """A diffusers AutoencoderKL from a local folder (its `save_pretrained` output, e.g. a downloaded SD VAE).

    Latents = (posterior mean - shift_factor) * scaling_factor, both from the VAE's config (SD: 0.18215, no shift),
    as diffusers' pipelines scale them; needs the `diffusers` extra. Never downloads (local_files_only).
    """

    def __init__(self, directory: str | Path, image_size: int):
        try:
            from diffusers import AutoencoderKL
        except ImportError:
            raise MotionContentError("codec 'diffusers' needs the diffusers extra: "
                                     "pip install -c constraints.txt 'motioncontent[diffusers]'") from None
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise MotionContentError(f"no diffusers AutoencoderKL at {directory} (config.json missing); give the "
                                     f"folder written by AutoencoderKL.save_pretrained")
        try:
            vae = AutoencoderKL.from_pretrained(directory, local_files_only=True)
        except (OSError, ValueError, TypeError) as error:
            raise MotionContentError(f"{directory} is not a diffusers AutoencoderKL: {str(error).splitlines()[0]}") from None
        downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        super().__init__(directory, image_size, downsample, int(vae.config.latent_channels))
        self._hold(vae)
        self.latent_scale = float(vae.config.scaling_factor)
        self.latent_shift = float(getattr(vae.config, "shift_factor", None) or 0.0)

    def _encode(self, network: Any, frames: torch.Tensor) -> torch.Tensor:
        return (network.encode(frames).latent_dist.mean - self.latent_shift) * self.latent_scale

    def _decode(self, network: Any, latents: torch.Tensor) -> torch.Tensor:
        return network.decode(latents / self.latent_scale + self.latent_shift).sample
