"""Transformer parts shared by the encoder (METHOD.md section 4) and the DiT denoiser (section 6).
Differs on purpose: LayerNorm, GELU and scaled attention everywhere (no T5 RMSNorm/ReLU/unscaled attention); the
timestep embedder takes EDM's continuous c_noise = ln(sigma)/4 instead of DiT's integer steps.

References: T5 relative position bias (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
Unified Text-to-Text Transformer"); DiT (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers",
facebookresearch/DiT: `modulate`, `TimestepEmbedder`, adaLN-Zero); BCD (Li, Chen et al., ICCV 2025,
arXiv 2509.08376). Every module initialises itself, so layers created later (stage 2) need no extra init call.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x (N, L, D) shifted and scaled per sequence by shift, scale (N, D) (DiT)."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def relative_position_bucket(
    relative_position: torch.Tensor, num_buckets: int = 32, max_distance: int = 128, bidirectional: bool = True
) -> torch.Tensor:
    """T5's bucketing of (key - query) offsets: exact for small offsets, log-spaced up to max_distance, clamped."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        # half the buckets for keys after the query, so the bias can tell past from future
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = (-relative_position).clamp(min=0)
    max_exact = num_buckets // 2
    # the clamp only keeps log() finite for offsets the `where` below sends to the exact branch anyway
    log_ratio = torch.log(distance.float().clamp(min=max_exact) / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + (log_ratio * (num_buckets - max_exact)).long()).clamp(max=num_buckets - 1)
    return buckets + torch.where(distance < max_exact, distance, large)


class RelativePositionBias(nn.Module):
    """T5 relative position bias: one learned scalar per (head, offset bucket), added to the attention logits.

    Depends only on offsets, so it works for any sequence length and gives no token an absolute position.
    """

    def __init__(self, heads: int, num_buckets: int = 32, max_distance: int = 128, bidirectional: bool = True):
        super().__init__()
        max_exact = num_buckets // (4 if bidirectional else 2)
        if max_distance <= max_exact:
            raise ValueError(f"max_distance {max_distance} must exceed the {max_exact} exactly-bucketed offsets")
        self.num_buckets, self.max_distance, self.bidirectional = num_buckets, max_distance, bidirectional
        self.relative_attention_bias = nn.Embedding(num_buckets, heads)
        nn.init.normal_(self.relative_attention_bias.weight, std=0.02)  # embedding init, as everywhere here

    def forward(self, length: int) -> torch.Tensor:
        """Returns the (heads, L, L) bias for L positions."""
        pos = torch.arange(length, device=self.relative_attention_bias.weight.device)
        relative_position = pos[None, :] - pos[:, None]  # (L, L): key - query, as in T5
        bucket = relative_position_bucket(relative_position, self.num_buckets, self.max_distance, self.bidirectional)
        return rearrange(self.relative_attention_bias(bucket), "q k h -> h q k")


class Attention(nn.Module):
    """Multi-head self-attention via scaled_dot_product_attention, with an optional additive float bias."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        for linear in (self.qkv, self.proj):  # DiT: xavier for every linear, zero bias
            nn.init.xavier_uniform_(linear.weight)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, L, D); bias broadcastable to (N, heads, L, L), e.g. (heads, L, L) from RelativePositionBias."""
        q, k, v = rearrange(self.qkv(x), "n l (three h d) -> three n h l d", three=3, h=self.heads)  # (N, h, L, hd)
        if bias is not None:
            bias = bias.to(q.dtype)  # SDPA wants the float mask in the query dtype (matters under autocast)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0)
        return self.proj_drop(self.proj(rearrange(y, "n h l d -> n l (h d)")))


class Mlp(nn.Module):
    """Transformer feed-forward: Linear -> GELU(tanh) -> Linear, DiT's choice."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)
        for linear in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TimestepEmbedder(nn.Module):
    """DiT's TimestepEmbedder for a continuous noise level: sinusoidal frequencies, then Linear-SiLU-Linear."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )
        for linear in (self.mlp[0], self.mlp[2]):  # DiT: normal(0.02) for the timestep MLP
            nn.init.normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)

    @staticmethod
    def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
        """t (N,) real-valued -> (N, dim) [cos | sin] features, frequencies from 1 down to 1/max_period (DiT).

        c_noise is fed unscaled, as EDM's own networks do (edm/training/networks.py PositionalEmbedding); it lives
        in about [-1.6, 1.1] for sigma in [0.002, 80], so the fastest frequencies carry the detail.
        """
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t.float()[:, None] * freqs[None]  # fp32: sigma arithmetic stays fp32 (METHOD 7)
        embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if dim % 2:
            embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
        return embedding

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t_freq = self.timestep_embedding(t, self.frequency_embedding_size)
        return self.mlp(t_freq.to(self.mlp[0].weight.dtype))
