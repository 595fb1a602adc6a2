"""Procedural "dead leaves" images with natural-image statistics, for training a frame codec that must generalise.

A codec trained on synthetic cartoon faces only never sees real skin, hair or background texture and reproduces
the real sample clips at 21 dB (README "Latent frame codec"). Images drawn from the dead-leaves model (Lee, Mumford
& Huang 2001: occluding shapes with a power-law size distribution, whose statistics are close to natural
images') teach it edges, occlusions and texture at every scale. Baradad et al. (NeurIPS 2021, "Learning to See by
Looking at Noise") showed that such images train general visual features; here they are mixed into the codec's
training frames (FrameAutoencoderModule `procedural_frames`). Written here because no kept library on PyPI makes
them in torch; it is about 40 lines and seeded, so a run and its resume see the same images.
"""

from __future__ import annotations

import math

import torch

from motioncontent.data.transforms import signed_to_uint8


def power_law_noise(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 3, size, size) zero-mean, unit-std noise whose amplitude falls as 1 / f^a, a in [1, 2] per image
    (natural images: about 1 / f), with the three channels partly correlated as in real colour images."""
    white = torch.randn(count, 3, size, size, generator=generator)
    shared = torch.randn(count, 1, size, size, generator=generator)
    mix = torch.rand(count, 1, 1, 1, generator=generator)
    white = mix * shared + (1 - mix) * white
    fy, fx = torch.fft.fftfreq(size)[:, None], torch.fft.rfftfreq(size)[None]
    frequency = (fx.square() + fy.square()).sqrt().clamp_min(1.0 / size)
    exponent = 1.0 + torch.rand(count, 1, 1, 1, generator=generator)
    spectrum = torch.fft.rfft2(white) * frequency.pow(-exponent)
    spectrum[..., 0, 0] = 0  # zero mean
    noise = torch.fft.irfft2(spectrum, s=(size, size))
    return noise / noise.flatten(1).std(dim=1).clamp_min(1e-6).view(count, 1, 1, 1)


def dead_leaves(count: int, size: int, generator: torch.Generator, leaves: int = 96) -> torch.Tensor:
    """(count, 3, size, size) images in [-1, 1]: `leaves` ellipses and rotated squares painted over each other on a
    textured background. Radii follow p(r) ~ 1 / r^2 from 2 px to size / 2 (so every scale has about the same share
    of edges); each shape has a random colour, a linear shading and a power-law texture of random strength, and
    edges from sharp to blurred."""
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    canvas = rand(count, 3, 1, 1) * 2 - 1 + 0.15 * power_law_noise(count, size, generator)
    texture = power_law_noise(count, size, generator)
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    r_min, r_max = 2.0, size / 2
    for _ in range(leaves):
        radius = 1.0 / (1.0 / r_min - rand(count) * (1.0 / r_min - 1.0 / r_max))  # inverse CDF of 1 / r^2, >= r_min
        radius = radius.view(count, 1, 1)
        angle = rand(count) * math.pi
        cos, sin = angle.cos().view(count, 1, 1), angle.sin().view(count, 1, 1)
        dy = yy - (rand(count) * size).view(count, 1, 1)
        dx = xx - (rand(count) * size).view(count, 1, 1)
        along = dx * cos + dy * sin  # (count, size, size), in the shape's own axes
        across = (dy * cos - dx * sin) / (0.4 + 0.6 * rand(count)).view(count, 1, 1)  # aspect ratio 0.4 - 1
        distance = torch.where((rand(count) < 0.3).view(count, 1, 1),
                               torch.maximum(along.abs(), across.abs()),  # a square (rectangle)
                               (along.square() + across.square()).sqrt())  # an ellipse
        softness = (0.5 + 3.0 * rand(count) ** 3).view(count, 1, 1)  # mostly sharp edges, some blurred
        mask = ((radius - distance) / softness + 0.5).clamp(0, 1).unsqueeze(1)
        shading = (rand(count, 3, 1, 1) - 0.5) * (along / radius).unsqueeze(1)
        shift = int(torch.randint(0, size, (1,), generator=generator))
        fill = (rand(count, 3, 1, 1) * 2 - 1 + 0.5 * shading
                + 0.25 * rand(count, 1, 1, 1).square() * texture.roll(shift, dims=-1))
        canvas = canvas * (1 - mask) + fill * mask
    return canvas.clamp(-1, 1)


def dead_leaves_bank(count: int, size: int, seed: int, chunk: int = 32) -> torch.Tensor:
    """`count` dead-leaves images as uint8 (count, 3, size, size), made in chunks from one seed (a bank that a
    training run draws from; uint8 keeps 2048 images at 128 px to 100 MB)."""
    generator = torch.Generator().manual_seed(seed)
    chunks = [dead_leaves(min(chunk, count - start), size, generator) for start in range(0, count, chunk)]
    return signed_to_uint8(torch.cat(chunks))


__all__ = ["dead_leaves", "dead_leaves_bank", "power_law_noise"]
