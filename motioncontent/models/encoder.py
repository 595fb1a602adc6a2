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
from typing import Literal

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


class AppendHeight(nn.Module):
    """(N, C, H, W) -> (N, C + 1, H, W): a last channel holding each row's height, -1 at the top to 1 at the bottom."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        return torch.cat([x, rows[None, None, :, None].expand(n, 1, h, w)], dim=1)


def max_over_pixels(mlp: nn.Sequential, pixels: torch.Tensor) -> torch.Tensor:
    """(N, C_in, H, W) -> (N, C): the maximum over the pixels of each output channel of a per-pixel MLP (1x1 convs
    and activations), as nn.AdaptiveMaxPool2d after the MLP would give, values and gradients alike (ties aside).

    Hand-written because only the pixel that holds a channel's maximum receives that channel's gradient, yet autograd
    through the pooled MLP keeps every pixel's activations: here the whole image goes through the MLP without autograd
    (as linears over channels-last pixels, which run faster than 1x1 convs on CPU) to find each channel's maximum, and
    only those pixels, C per frame, run again with autograd. At width 32 on 64 x 64 Sprites frames this takes a third of
    the time of the pooled MLP on 2 CPU cores (README "The model")."""
    n, c_in = pixels.shape[:2]
    flat = pixels.flatten(2)  # (N, C_in, P)
    with torch.no_grad():
        h = flat.transpose(1, 2)  # (N, P, C_in)
        for layer in mlp:
            is_conv = isinstance(layer, nn.Conv2d)
            h = nn.functional.linear(h, layer.weight.flatten(1), layer.bias) if is_conv else layer(h)
    if not torch.is_grad_enabled():
        return h.amax(dim=1)
    index = h.argmax(dim=1)  # (N, C): the pixel of each channel's maximum
    chosen = torch.gather(flat, 2, index[:, None, :].expand(n, c_in, -1))  # (N, C_in, C): those pixels' inputs
    features = mlp(chosen[..., None])[..., 0]  # (N, C, C): every channel at each chosen pixel
    return torch.diagonal(features, dim1=1, dim2=2)  # (N, C): channel c at its own maximum's pixel


class ConvStem(nn.Module):
    """(N, C, H, W) -> (N, D): conv, then [GroupNorm, SiLU, stride-2 conv] until about 4x4, then flatten + linear.

    Convolutions before the flatten keep the token linear layer small and share filters over space (METHOD 4).
    pool="max" instead is a per-pixel MLP (1x1 convs) followed by the maximum of each channel over the frame: which
    colours are present anywhere, not where, how many, or next to what. A content stem for appearance (ours, not
    METHOD's): pose and facing move, resize and re-arrange the coloured regions, so a layout, an area or a local
    pattern carries motion (on Sprites, a 3x3 conv before the maximum let content carry the motion class), whereas
    the set of colours a character wears survives every pose. `cell_size`: pixels per side of one latent cell (the
    pixel codec's unshuffle factor), which are spread back out so the MLP sees single pixels. `with_height`: the MLP
    also reads each pixel's height in the frame (-1 top, 1 bottom), so it can tell a colour worn on the legs from the
    same colour on the chest (Sprites' tops and trousers share teal, white and metal) and still not where it is
    across the frame, which the facing direction moves.
    """

    def __init__(self, in_channels: int, in_size: int, dim: int, channels: int = 64,
                 pool: Literal["flatten", "max"] = "flatten", cell_size: int = 1, with_height: bool = False):
        super().__init__()
        steps, size = _stem_steps(in_size)
        groups = math.gcd(32, channels)
        if pool == "max":
            if in_channels % (cell_size * cell_size):
                raise ValueError(f"{in_channels} latent channels do not hold {cell_size}x{cell_size} pixel cells")
            pixel_channels = in_channels // (cell_size * cell_size) + int(with_height)
            # no GroupNorm: per-frame statistics would cancel the colours the MLP detects; the maximum over the
            # pixels is taken in forward (max_over_pixels), after the last layer here
            layers: list[nn.Module] = [nn.PixelShuffle(cell_size), *([AppendHeight()] if with_height else []),
                                       nn.Conv2d(pixel_channels, channels, 1), nn.SiLU(),
                                       nn.Conv2d(channels, channels, 1), nn.SiLU()]
            size = 1
        elif pool == "flatten":
            layers = [nn.Conv2d(in_channels, channels, 3, padding=1)]
            for _ in range(steps):
                layers += [nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, 2, padding=1)]
            layers += [nn.GroupNorm(groups, channels), nn.SiLU(), nn.Flatten()]
        else:
            raise ValueError(f"unknown stem pool '{pool}' (available: flatten, max)")
        if with_height and pool != "max":
            raise ValueError("with_height is for the max stem (the flatten stem keeps the layout already)")
        self.convs = nn.Sequential(*layers)  # convs keep PyTorch's default (Kaiming-uniform) init
        # the max stem's per-pixel MLP is convs[start:], from its first 1x1 conv on (what precedes makes the pixels)
        self.pixel_mlp_start = next(i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)) \
            if pool == "max" else None
        self.proj = nn.Linear(channels * size * size, dim)
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, D)."""
        if self.pixel_mlp_start is None:
            return self.proj(self.convs(x))
        pixels = self.convs[:self.pixel_mlp_start](x)  # (N, C_pixel, H', W'): pixels (and heights) of the frame
        return self.proj(max_over_pixels(self.convs[self.pixel_mlp_start:], pixels))


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
        stem_pool: Literal["flatten", "max"] = "flatten",
        stem_cell_size: int = 1,
        stem_height: bool = False,
        content_norm: bool = False,
    ):
        super().__init__()
        self.in_channels, self.in_size = in_channels, in_size
        self.num_content_queries, self.max_frames = num_content_queries, max_frames
        self.stem = ConvStem(in_channels, in_size, dim, stem_channels, pool=stem_pool, cell_size=stem_cell_size,
                             with_height=stem_height)
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
        # A zero size drops that head: a network that makes only content or only motion (SeparateContentEncoder),
        # whose unused head would get no gradient (which DDP rejects) and would only take up room in checkpoints.
        self.head_c = nn.Linear(dim, content_dim) if content_dim else None
        self.head_m = nn.Linear(dim, motion_dim) if motion_dim else None
        # Standardises every content slot and channel over the batch: at init the K query outputs are nearly the
        # same for every clip (the learned queries dominate them), so the denoiser sees an almost constant content
        # and learns to ignore it before the encoder learns to fill it. No affine: the DiT's projections scale it.
        self.content_norm = (nn.BatchNorm1d(num_content_queries * content_dim, affine=False)
                             if content_norm and content_dim else None)
        for linear in filter(None, (self.head_c, self.head_m)):  # not zero-init: the quantizer and the DiT need signal
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

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """latents (B, T, C, H, W) -> content (B, K, content_dim), motion (B, T, motion_dim); any T <= max_frames.
        None for a part whose size is 0."""
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
        motion = self.head_m(x[:, k:]) if self.head_m is not None else None  # (B, T, Cm)
        if self.head_c is None:
            return None, motion
        content = self.head_c(x[:, :k])  # (B, K, Cc)
        if self.content_norm is not None:
            norm = self.content_norm
            use_batch = norm.training and b > 1  # one clip has no batch statistics: use the running ones
            flat = nn.functional.batch_norm(content.flatten(1), norm.running_mean, norm.running_var, training=use_batch,
                                            momentum=norm.momentum, eps=norm.eps)
            content = flat.view_as(content)
        return content, motion

    def encode_content(self, latents: torch.Tensor) -> torch.Tensor:
        return self(latents)[0]

    def encode_motion(self, latents: torch.Tensor) -> torch.Tensor:
        return self(latents)[1]


class SeparateContentEncoder(nn.Module):
    """Two MotionContentEncoders behind the one-encoder interface: content from the first (built with motion_dim=0),
    motion from the second (content_dim=0).

    Not in METHOD.md (one transformer makes both). Cross-driving already runs the content and the motion pass on
    different inputs (models/views.py gives them different views as well), so one shared network must serve two
    tasks, and a signal that shapes content (e.g. the contrastive loss) also reshapes the motion features. Separate
    weights keep the two apart. forward runs both networks (the one-encoder interface); encode_content and
    encode_motion run only the one they need, which is what cross-driving calls."""

    def __init__(self, content: MotionContentEncoder, motion: MotionContentEncoder):
        super().__init__()
        if content.head_c is None or motion.head_m is None:
            raise ValueError("SeparateContentEncoder needs a network with a content head and one with a motion head")
        self.content, self.motion = content, motion
        self.num_content_queries, self.max_frames = content.num_content_queries, content.max_frames

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latents (B, T, C, H, W) -> content (B, K, Cc) of the first network, motion (B, T, Cm) of the second."""
        return self.content(latents)[0], self.motion(latents)[1]

    def encode_content(self, latents: torch.Tensor) -> torch.Tensor:
        return self.content(latents)[0]

    def encode_motion(self, latents: torch.Tensor) -> torch.Tensor:
        return self.motion(latents)[1]
