"""Views of a clip for the two encoder passes of cross-driving (METHOD.md 8.2): what each pass may not see.
Not in METHOD: BCD relies on the bitrate alone; these label-free augmentations remove what a channel could cheat with.

Cross-driving reads content from segment A and motion from segment B of one clip. On short, periodic clips (Sprites)
A's poses already tell B's motion class, so content can carry motion and the denoiser learns to follow it; and the
motion codes, given spare bits, carry colour. Each view takes one cue away from one pass:

- `shuffle_patches` (content pass): frames cut into p x p patches and shuffled, which keeps the palette and local
  texture (appearance) and destroys the layout (pose, facing direction). A jigsaw view, as in self-supervised
  pretext tasks (Noroozi & Favaro 2016), used here as a filter rather than a task.
- `permute_channels` (motion pass): RGB channels permuted per clip, so the colours seen by the motion encoder say
  nothing reliable about the colours it must help to rebuild (the colour-jitter of driving frames in face
  reenactment, e.g. MegaPortraits, Drobyshev et al. 2022).
- `random_hflip` (content pass): mirrors content so it cannot carry the left/right facing.

Videos are (B, T, C, H, W); every view keeps shape, dtype and value range. Random draws go through
models/batch_random.py, so a DDP run draws the same views per clip as one process with the global batch.
"""

from __future__ import annotations

import torch
from einops import rearrange

from motioncontent.models.batch_random import batch_random


def random_hflip(video: torch.Tensor, prob: float) -> torch.Tensor:
    """Each clip mirrored left-right with probability prob (all its frames alike)."""
    flip = batch_random("rand", (video.shape[0],), video.device) < prob
    return torch.where(flip[:, None, None, None, None], video.flip(-1), video)


def shuffle_patches(video: torch.Tensor, patch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Frames cut into patch x patch tiles, tiles shuffled: a fresh permutation per frame, or with a generator
    one permutation drawn from it and shared by every frame (deterministic inference views)."""
    b, t, c, h, w = video.shape
    if h % patch or w % patch:
        raise ValueError(f"frames {h}x{w} are not divisible by the shuffle patch {patch}")
    tiles = rearrange(video, "b t c (nh p) (nw q) -> (b t) (nh nw) c p q", p=patch, q=patch)
    n = tiles.shape[1]
    if generator is None:
        # (B*T, n): one permutation per frame
        order = batch_random("rand", (b, t, n), video.device).reshape(b * t, n).argsort(dim=1)
    else:
        order = torch.randperm(n, generator=generator).to(video.device).expand(b * t, n)
    tiles = tiles[torch.arange(b * t, device=video.device)[:, None], order]
    return rearrange(tiles, "(b t) (nh nw) c p q -> b t c (nh p) (nw q)", b=b, nh=h // patch, p=patch)


def permute_channels(video: torch.Tensor) -> torch.Tensor:
    """Each clip's colour channels in a random order (all its frames alike)."""
    b, _, c = video.shape[:3]
    order = batch_random("rand", (b, c), video.device).argsort(dim=1)  # (B, C)
    index = order[:, None, :, None, None].expand(video.shape)
    return video.gather(2, index)


__all__ = ["permute_channels", "random_hflip", "shuffle_patches"]
