"""The Sprites judge of SPRITES.md section 4: a DCGAN-64 frame encoder, a bidirectional LSTM over the frames and
five heads (motion: 9 classes; skin, pants, top, hair: 6 each). Differs on purpose: the channel width is a
parameter (`width=64` is the literature's 64-128-256-512; the CPU config halves it), and inputs are the project's
videos in [-1, 1], mapped here to the [0, 1) the original network was trained on.

Same network as `classifier_Sprite_all` of C-DSVAE / SPYL / DBSE; its weights are not obtainable, so the project
trains its own (systems/judge.py). The clip feature joins the forward LSTM state at the last frame with the
backward state at the first frame.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

# Head names and class counts, in the order forward() returns them; the names match the DataModule's labels.
JUDGE_HEADS: dict[str, int] = {"motion": 9, "skin": 6, "pants": 6, "top": 6, "hair": 6}


def _down(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 4, 2, 1), nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2)]


class SpritesJudge(nn.Module):
    """video (B, T, 3, 64, 64) in [-1, 1] -> {head: logits (B, classes)} for JUDGE_HEADS."""

    def __init__(self, width: int = 64, frame_dim: int = 128, hidden: int = 256, image_size: int = 64):
        super().__init__()
        if image_size != 64:
            raise ValueError(f"the judge's DCGAN-64 encoder needs 64x64 frames, got {image_size}")
        w = width
        self.frame_encoder = nn.Sequential(  # 64 -> 32 -> 16 -> 8 -> 4 -> 1
            *_down(3, w), *_down(w, 2 * w), *_down(2 * w, 4 * w), *_down(4 * w, 8 * w),
            nn.Conv2d(8 * w, frame_dim, 4, 1, 0), nn.BatchNorm2d(frame_dim), nn.Tanh(), nn.Flatten(),
        )
        self.lstm = nn.LSTM(frame_dim, hidden, num_layers=1, bidirectional=True, batch_first=True)
        self.hidden = hidden
        self.heads = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))
            for name, classes in JUDGE_HEADS.items()
        })

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, 64, 64) in [-1, 1] -> (B, 2 * hidden) clip feature."""
        b = video.shape[0]
        frames = (rearrange(video, "b t c h w -> (b t) c h w").float() + 1.0) / 2.0  # [0, 1] as in the literature
        per_frame = rearrange(self.frame_encoder(frames), "(b t) d -> b t d", b=b)
        out, _ = self.lstm(per_frame)  # (B, T, 2 * hidden)
        return torch.cat([out[:, -1, : self.hidden], out[:, 0, self.hidden :]], dim=1)

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        feature = self.features(video)
        return {name: head(feature) for name, head in self.heads.items()}


__all__ = ["JUDGE_HEADS", "SpritesJudge"]
