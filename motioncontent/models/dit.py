"""The DiT denoiser of METHOD.md section 6: frames as images, per-frame adaLN-Zero cond, content tokens, stage 2.
Differs on purpose: content also enters the adaLN conditioning (mean-pooled); temporal layers use a T5 bias.

Each frame is denoised as an image, with cond_t = t_embedder(c_noise) + motion_mlp(motion_t) + content_mlp(mean_k
content_k) driving adaLN-Zero in every block; the K content tokens are also prepended to each frame's patch tokens
(reading (a)) and dropped at the output. The pooled adaLN path is ours: DiT found adaLN conditioning far stronger
than in-context tokens, and on Sprites the token path alone left appearance unused for thousands of steps (samples
changed hair colour from frame to frame). Content tokens are modulated like patch tokens. Stage-2 temporal attention
places time with a T5 relative bias (Raffel et al. 2020), so it works for any clip length.

Follows DiT (Peebles & Xie 2023, facebookresearch/DiT models.py): PatchEmbed, fixed 2D sin-cos positions,
adaLN-Zero blocks, zero-initialised final layer. BCD: Li, Chen et al., ICCV 2025 (arXiv 2509.08376). F(x) here is
the EDM network (Karras et al. 2022); c_skip/c_out live in the diffusion code, not in this network.
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from torch import nn

from .layers import Attention, Mlp, RelativePositionBias, TimestepEmbedder, modulate


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """pos (M,) -> (M, dim) [sin | cos] with frequencies 1 .. 1/10000 (MAE/DiT's 1D sin-cos)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_2d(dim: int, grid_size: int) -> torch.Tensor:
    """(grid_size**2, dim) fixed position embedding, row-major: half the channels for the row, half for the column."""
    if dim % 4:
        raise ValueError(f"dim {dim} must be divisible by 4 for the 2D sin-cos position embedding")
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    return torch.cat([sincos_1d(dim // 2, rows.flatten()), sincos_1d(dim // 2, cols.flatten())], dim=1).float()


class PatchEmbed(nn.Module):
    """(N, C, H, W) -> (N, P, D) with a patch_size-strided conv, i.e. a linear map of each patch (DiT/ViT)."""

    def __init__(self, in_channels: int, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        # DiT: initialise like nn.Linear (xavier over the flattened patch), not like a conv
        nn.init.xavier_uniform_(self.proj.weight.view(dim, -1))
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.proj(x), "n d h w -> n (h w) d")


class DiTBlock(nn.Module):
    """DiT block with adaLN-Zero: shift/scale/gate for attention and MLP regressed from the conditioning."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)  # affine comes from adaLN
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        # adaLN-Zero: gates start at 0, so every block starts as the identity
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (N, L, D) tokens, c (N, D) conditioning of each sequence."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class TemporalBlock(nn.Module):
    """Stage-2 temporal self-attention over the T frames at one token position (METHOD 6 suggestion).

    Pre-LN residual with the output projection zero-initialised, so a new block is exactly the identity and
    stage 2 starts from the stage-1 function. Each block owns its relative bias so that everything stage 2 adds
    lives under `temporal_blocks.*` and a stage-1 checkpoint loads with strict=False.
    """

    def __init__(self, dim: int, heads: int, max_frames: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.rel_pos_bias = RelativePositionBias(heads, num_buckets=32, max_distance=max(max_frames, 16))
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.attn.proj.bias)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """x (B*T, L, D) with frames folded into the batch -> same shape, frames mixed at each position."""
        length = x.shape[1]
        x = rearrange(x, "(b t) l d -> (b l) t d", t=num_frames)  # (B*L, T, D)
        x = x + self.attn(self.norm(x), self.rel_pos_bias(num_frames))
        return rearrange(x, "(b l) t d -> (b t) l d", l=length)


class FinalLayer(nn.Module):
    """adaLN shift/scale, then a zero-initialised linear to the patch pixels: F(x) = 0 at init (DiT)."""

    def __init__(self, dim: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        for linear in (self.linear, self.adaLN_modulation[-1]):
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiTDenoiser(nn.Module):
    """F(x; c_noise, motion, content) for (B, T, C, H, W) latents; see forward.

    `temporal` is read-only afterwards (True once `temporal_blocks` is filled): stage 2 calls enable_temporal(),
    before the optimiser is built, since the new parameters must be handed to it.
    """

    def __init__(
        self,
        in_channels: int,
        in_size: int,
        patch_size: int = 2,
        dim: int = 256,
        depth: int = 6,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        motion_dim: int = 64,
        content_dim: int = 128,
        temporal: bool = False,
        max_frames: int = 64,
    ):
        super().__init__()
        if in_size % patch_size:
            raise ValueError(f"in_size {in_size} is not divisible by patch_size {patch_size}")
        self.in_channels, self.in_size, self.patch_size = in_channels, in_size, patch_size
        self.dim, self.depth, self.heads, self.max_frames = dim, depth, heads, max_frames
        self.grid_size = in_size // patch_size

        self.x_embedder = PatchEmbed(in_channels, patch_size, dim)
        # fixed, not learned (DiT); a non-persistent buffer keeps it out of checkpoints and the optimiser
        self.register_buffer("pos_embed", sincos_2d(dim, self.grid_size)[None], persistent=False)  # (1, P, D)
        self.t_embedder = TimestepEmbedder(dim)
        self.motion_mlp = nn.Sequential(nn.Linear(motion_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.content_mlp = nn.Sequential(nn.Linear(content_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        # content tokens: a shared projection plus one learned type embedding (no per-slot embedding, so any K works;
        # the slots differ by value, and attention treats them as a set)
        self.content_proj = nn.Linear(content_dim, dim)
        self.content_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([DiTBlock(dim, heads, mlp_ratio) for _ in range(depth)])
        self.temporal_blocks = nn.ModuleList()  # empty in stage 1: no keys in a stage-1 state dict
        self.final_layer = FinalLayer(dim, patch_size, in_channels)
        self.initialize_weights()
        if temporal:
            self.enable_temporal()

    def initialize_weights(self) -> None:
        """What the submodules do not do themselves (they init in their constructors, as in layers.py)."""
        # xavier, not DiT's normal(0.02) of t_embedder: two stacked 0.02 layers make the motion signal and its
        # gradient ~1e-4 at init, and on Sprites the DiT then took thousands of steps to start using motion.
        for linear in (self.motion_mlp[0], self.motion_mlp[2], self.content_mlp[0], self.content_mlp[2]):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
        nn.init.xavier_uniform_(self.content_proj.weight)
        nn.init.zeros_(self.content_proj.bias)
        nn.init.normal_(self.content_embed, std=0.02)

    @property
    def temporal(self) -> bool:
        return len(self.temporal_blocks) > 0

    def enable_temporal(self) -> None:
        """Add (if absent) the stage-2 temporal attention layers, zero-initialised so the output is unchanged."""
        if self.temporal:
            return
        ref = self.final_layer.linear.weight
        for _ in range(self.depth):
            self.temporal_blocks.append(
                TemporalBlock(self.dim, self.heads, self.max_frames).to(device=ref.device, dtype=ref.dtype)
            )

    def unpatchify(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """(B*T, P, p*p*C) -> (B, T, C, H, W)."""
        p, g = self.patch_size, self.grid_size
        return rearrange(x, "(b t) (h w) (p q c) -> b t c (h p) (w q)", b=batch, h=g, w=g, p=p, q=p)

    def forward(
        self, x: torch.Tensor, c_noise: torch.Tensor, motion: torch.Tensor, content: torch.Tensor
    ) -> torch.Tensor:
        """x (B, T, C, H, W) the preconditioned noisy latents (c_in * x), c_noise (B,) or (B, T) the EDM noise
        conditioning (1/4 ln sigma), motion (B, T, motion_dim) quantized motion, content (B, K, content_dim).
        Returns F(x) of the same shape as x (the EDM network output, before c_skip/c_out)."""
        b, t = x.shape[:2]
        if self.temporal and t > self.max_frames:
            raise ValueError(f"clip has {t} frames but the temporal layers were built for max_frames={self.max_frames}")
        k = content.shape[1]

        # per-frame conditioning (METHOD 6): noise level + that frame's motion, one vector per frame
        c_noise = c_noise.reshape(b, -1).expand(b, t)  # (B, T); a per-clip level is shared by its frames
        cond = self.t_embedder(c_noise.flatten()) + self.motion_mlp(rearrange(motion, "b t m -> (b t) m"))  # (B*T, D)
        cond = cond + repeat(self.content_mlp(content.mean(dim=1)), "b d -> (b t) d", t=t)  # the clip's look, pooled

        patches = self.x_embedder(rearrange(x, "b t c h w -> (b t) c h w")) + self.pos_embed  # (B*T, P, D)
        ctx = self.content_proj(content) + self.content_embed  # (B, K, D)
        ctx = repeat(ctx, "b k d -> (b t) k d", t=t)  # every frame sees the same clip content
        h = torch.cat([ctx, patches], dim=1)  # (B*T, K+P, D)

        for i, block in enumerate(self.blocks):
            h = block(h, cond)  # spatial: frames are independent images here
            if self.temporal:
                h = self.temporal_blocks[i](h, t)  # (B*T, K+P, D), frames mixed per token position

        out = self.final_layer(h[:, k:], cond)  # (B*T, P, p*p*C): the content tokens are dropped
        return self.unpatchify(out, b)
