"""The optional adversarial loss of the frame tokenizer (METHOD.md section 3; the LDM autoencoder's patch GAN).
Differs on purpose: narrower and shallower than pix2pix's 70x70 PatchGAN (CPU budget), GroupNorm instead of
BatchNorm (small, frame-correlated batches), and plain hinge losses with a fixed weight (no adaptive weight).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """(N, C, H, W) frames -> (N, 1, H / 2^layers, W / 2^layers) real/fake logits, one per image patch."""

    def __init__(self, image_channels: int = 3, width: int = 32, layers: int = 3):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(image_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for _ in range(layers - 1):
            out = min(channels * 2, 8 * width)
            blocks += [nn.Conv2d(channels, out, 4, 2, 1), nn.GroupNorm(8, out), nn.LeakyReLU(0.2)]
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


__all__ = ["PatchDiscriminator", "hinge_discriminator_loss", "hinge_generator_loss"]
