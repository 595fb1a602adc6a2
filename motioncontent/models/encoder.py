"""The motion/content encoder of METHOD.md section 4: K learned content queries + one token per frame -> content
(K tokens) and per-frame motion. Differs on purpose: a conv stem (not a bare linear) makes the frame tokens; the
transformer is pre-LN with LayerNorm/GELU rather than T5's RMSNorm/ReLU, at whatever size the config asks.

Position over time is only T5's bucketed relative bias (Raffel et al. 2020), shared by all layers as in T5. The
content queries have no time position: query->query, query->frame and frame->query pairs each get one learned
bias per head, so no content token can read an absolute frame index. BCD: Li, Chen et al., ICCV 2025
(arXiv 2509.08376). Initialisation follows DiT (Peebles & Xie 2023): xavier linears, normal(0.02) embeddings.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange, repeat
from torch import nn

from .layers import Attention, Mlp, RelativePositionBias


def _stem_steps(in_size: int, target: int = 4) -> tuple[int, int]:
    """Number of stride-2 convs that bring in_size down to <= target, and the resulting side length."""
    steps, size = 0, in_size
    while size > target:
        size, steps = math.ceil(size / 2), steps + 1  # a 3x3, stride 2, padding 1 conv gives ceil(size / 2)
    return steps, size


class ConvStem(nn.Module):
    """(N, C, H, W) -> (N, D): conv, then [GroupNorm, SiLU, stride-2 conv] until about 4x4, then flatten + linear.

    Convolutions before the flatten keep the token linear layer small and share filters over space (METHOD 4).
    """

    def __init__(self, in_channels: int, in_size: int, dim: int, channels: int = 64):
        super().__init__()
        steps, size = _stem_steps(in_size)
        groups = math.gcd(32, channels)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1)]
        for _ in range(steps):
            layers += [nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, 2, padding=1)]
        layers += [nn.GroupNorm(groups, channels), nn.SiLU(), nn.Flatten()]
        self.convs = nn.Sequential(*layers)  # convs keep PyTorch's default (Kaiming-uniform) init
        self.proj = nn.Linear(channels * size * size, dim)
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(x))


class EncoderBlock(nn.Module):
    """Pre-LN transformer layer; the attention bias comes from outside so all layers share it (T5)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout=dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), bias)
        return x + self.mlp(self.norm2(x))


class MotionContentEncoder(nn.Module):
    """latents (B, T, C, H, W) -> content (B, K, content_dim), motion (B, T, motion_dim)."""

    def __init__(
        self,
        in_channels: int,
        in_size: int,
        dim: int = 256,
        depth: int = 4,
        heads: int = 4,
        num_content_queries: int = 4,
        content_dim: int = 128,
        motion_dim: int = 64,
        max_frames: int = 64,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        stem_channels: int = 64,
        content_norm: bool = False,
    ):
        super().__init__()
        self.in_channels, self.in_size = in_channels, in_size
        self.num_content_queries, self.max_frames = num_content_queries, max_frames
        self.stem = ConvStem(in_channels, in_size, dim, stem_channels)
        # the K learned queries of METHOD 4, shared by every clip; normal(0.02) like any embedding
        self.content_queries = nn.Parameter(torch.randn(num_content_queries, dim) * 0.02)
        # frame<->frame pairs: T5 buckets over the time offset; max_distance = max_frames spreads the log-spaced
        # buckets over the offsets a clip can have (offsets < 8 get exact buckets, so short clips need no more)
        self.rel_pos_bias = RelativePositionBias(heads, num_buckets=32, max_distance=max(max_frames, 16))
        # pairs involving a content query have no offset: one bias per head for each kind of pair
        self.query_query_bias = nn.Parameter(torch.randn(heads) * 0.02)
        self.query_frame_bias = nn.Parameter(torch.randn(heads) * 0.02)
        self.frame_query_bias = nn.Parameter(torch.randn(heads) * 0.02)
        self.blocks = nn.ModuleList([EncoderBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head_c = nn.Linear(dim, content_dim)
        self.head_m = nn.Linear(dim, motion_dim)
        # Standardises every content slot and channel over the batch: at init the K query outputs are nearly the
        # same for every clip (the learned queries dominate them), so the denoiser sees an almost constant content
        # and learns to ignore it before the encoder learns to fill it. No affine: the DiT's projections scale it.
        self.content_norm = nn.BatchNorm1d(num_content_queries * content_dim, affine=False) if content_norm else None
        for linear in (self.head_c, self.head_m):  # not zero-init: the quantizer and the DiT need signal at step 0
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def attn_bias(self, num_frames: int) -> torch.Tensor:
        """The (heads, K + T, K + T) additive attention bias shared by all layers; queries come first."""
        k, t = self.num_content_queries, num_frames
        frame_frame = self.rel_pos_bias(t)  # (h, T, T), depends on the offset only
        h = frame_frame.shape[0]

        def pairs(bias: torch.Tensor, rows: int, cols: int) -> torch.Tensor:  # (h,) -> (h, rows, cols)
            return bias[:, None, None].expand(h, rows, cols)

        top = torch.cat([pairs(self.query_query_bias, k, k), pairs(self.query_frame_bias, k, t)], dim=2)
        bottom = torch.cat([pairs(self.frame_query_bias, t, k), frame_frame], dim=2)
        return torch.cat([top, bottom], dim=1)  # (h, K+T, K+T)

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latents (B, T, C, H, W) -> content (B, K, content_dim), motion (B, T, motion_dim); any T <= max_frames."""
        b, t = latents.shape[:2]
        if t > self.max_frames:
            raise ValueError(f"clip has {t} frames but the encoder was built for at most max_frames={self.max_frames}")
        if latents.shape[2:] != (self.in_channels, self.in_size, self.in_size):
            c, s = self.in_channels, self.in_size
            raise ValueError(f"expected latents (B, T, {c}, {s}, {s}), got {tuple(latents.shape)}")
        frames = self.stem(rearrange(latents, "b t c h w -> (b t) c h w"))  # (B*T, D): one token per frame
        frames = rearrange(frames, "(b t) d -> b t d", b=b)
        queries = repeat(self.content_queries, "k d -> b k d", b=b)
        x = torch.cat([queries, frames], dim=1)  # (B, K+T, D); no absolute positions anywhere
        bias = self.attn_bias(t)  # (h, K+T, K+T), broadcast over the batch by SDPA
        for block in self.blocks:
            x = block(x, bias)
        x = self.norm(x)
        k = self.num_content_queries
        content = self.head_c(x[:, :k])  # (B, K, Cc)
        if self.content_norm is not None:
            norm = self.content_norm
            use_batch = norm.training and b > 1  # one clip has no batch statistics: use the running ones
            flat = nn.functional.batch_norm(content.flatten(1), norm.running_mean, norm.running_var, training=use_batch,
                                            momentum=norm.momentum, eps=norm.eps)
            content = flat.view_as(content)
        return content, self.head_m(x[:, k:])  # (B, K, Cc), (B, T, Cm)
