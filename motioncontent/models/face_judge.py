"""The talking-head judge: one small network that scores generated talking-head clips on three things.

- **identity**: a clip embedding (L2-normalised), trained as a cosine classifier over the training people
  (NormFace-style: normalised features and weights, a fixed scale). Evaluation people are unseen, so it is used
  as an embedding: a clip is recognised as the test person whose real clips' mean embedding is nearest.
- **motion factors**: per frame, the synthetic set's 8 motion factors (synthetic_motion.MOTION_FACTORS), standardised
  with the training set's mean and standard deviation (kept as buffers, so outputs come back in natural units).
- **identity factors**: per clip, one classifier per categorical identity factor of the synthetic faces
  (synthetic_faces.IDENTITY_FACTORS).

Frames go through a DCGAN-style strided conv stack whose last map is flattened rather than pooled: position, roll and
shift are motion factors, and global pooling would throw their location away. Clip features are the mean of the
frame features, so any clip length works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from motioncontent.data.talking_heads.synthetic_faces import IDENTITY_FACTORS, IDENTITY_OPTIONS
from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS

NUM_MOTION_FACTORS = len(MOTION_FACTORS)


def _down(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 4, 2, 1), nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2)]


class TalkingHeadJudge(nn.Module):
    """video (B, T, 3, S, S) in [-1, 1] -> dict with
    `embedding` (B, embed_dim) unit vectors, `identity_logits` (B, num_identities), `motion` (B, T, 8) in natural
    units (degrees, openness, frame widths), and one `factor/<name>` (B, options) logit tensor per identity factor.

    Args: num_identities (training people the classifier separates), image_size (a multiple of 16), width (conv
    channel base), frame_dim, embed_dim, scale (cosine-classifier temperature).
    """

    def __init__(self, num_identities: int, image_size: int = 64, width: int = 32, frame_dim: int = 256,
                 embed_dim: int = 128, scale: float = 16.0):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"the judge needs frames whose side is a multiple of 16, got {image_size}")
        w, side = width, image_size // 16
        self.frame_encoder = nn.Sequential(  # S -> S/2 -> S/4 -> S/8 -> S/16, then flattened (keeps position)
            *_down(3, w), *_down(w, 2 * w), *_down(2 * w, 4 * w), *_down(4 * w, 8 * w),
            nn.Flatten(), nn.Linear(8 * w * side * side, frame_dim), nn.LayerNorm(frame_dim), nn.GELU(),
        )
        self.motion_head = nn.Sequential(nn.Linear(frame_dim, frame_dim), nn.GELU(),
                                         nn.Linear(frame_dim, NUM_MOTION_FACTORS))
        self.clip_head = nn.Sequential(nn.Linear(frame_dim, frame_dim), nn.GELU(), nn.Linear(frame_dim, embed_dim))
        self.identity_weight = nn.Parameter(torch.randn(num_identities, embed_dim) * 0.01)
        self.factor_heads = nn.ModuleDict({name: nn.Linear(embed_dim, IDENTITY_OPTIONS[name])
                                           for name in IDENTITY_FACTORS})
        self.scale = scale
        # Standardisation of the motion targets (set from the training clips by the LightningModule).
        self.register_buffer("motion_mean", torch.zeros(NUM_MOTION_FACTORS))
        self.register_buffer("motion_std", torch.ones(NUM_MOTION_FACTORS))

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        b = video.shape[0]
        frames = rearrange(video.float(), "b t c h w -> (b t) c h w")
        per_frame = rearrange(self.frame_encoder(frames), "(b t) d -> b t d", b=b)
        motion_z = self.motion_head(per_frame)  # standardised
        clip = self.clip_head(per_frame.mean(1))
        embedding = F.normalize(clip, dim=-1)
        out = {
            "embedding": embedding,
            "identity_logits": self.scale * embedding @ F.normalize(self.identity_weight, dim=-1).T,
            "motion_z": motion_z,
            "motion": motion_z * self.motion_std + self.motion_mean,
        }
        for name, head in self.factor_heads.items():
            out[f"factor/{name}"] = head(clip)
        return out


__all__ = ["NUM_MOTION_FACTORS", "TalkingHeadJudge"]
