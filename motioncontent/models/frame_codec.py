"""Frame codecs: the per-frame tokenizer of METHOD.md section 3 (frames <-> latent grids, one frame at a time).
BCD uses a pre-trained image VAE; the first codec here is lossless (pixels, optionally pixel-unshuffled) so
the model can train on Sprites with no pre-trained weights. A learned latent codec plugs into the same interface.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


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
