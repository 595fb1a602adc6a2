"""The autoregressive motion prior of METHOD.md section 9: a GPT over BCD's discrete motion codes, given the content.
Differs from the paper's GPT-2 (section 9 leaves the rest open): one token per frame, content as prefix tokens, and an
exact within-frame factorisation over the N groups instead of a flat sequence of N tokens per frame.

Tokenisation (the decision METHOD 9 asks for, and why):
- A frame is ONE token: the sum of its N group-code embeddings plus a learned time position. The context length is
  then the number of frames (a flat sequence would be N tokens per frame: 3200 tokens for 50 frames at N = 64).
- The next frame's N codes are predicted by a small "group head" that reads the transformer's state plus the
  codes of the frame's earlier groups: p(c_t | past) = prod_i p(c_t,i | c_t,<i, past). Unlike N parallel heads it
  does not assume the groups of a frame independent, so its NLL is an honest code length (the bitstream can use it),
  and it stays a single cumulative sum in training (teacher forcing), N tiny MLP calls per frame in sampling.
- Content (the BCD encoder's K tokens) is a prefix: K projected tokens before the first frame, under the same
  causal mask. The state at the last content token predicts frame 0, so content alone gives the first frame.

Written in the style of nanoGPT (Karpathy, https://github.com/karpathy/nanoGPT): pre-LN blocks, fused QKV attention
with PyTorch's SDPA, GELU MLP, residual projections initialised with std 0.02 / sqrt(2 * depth) (GPT-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class PriorConfig:
    num_groups: int = 8  # N codes per frame
    codebook_size: int = 16  # E entries per group
    content_tokens: int = 4  # K content tokens of the BCD encoder
    content_dim: int = 128  # C_c
    max_frames: int = 64  # longest context in frames (longer sequences are generated/scored in a sliding window)
    dim: int = 192
    depth: int = 4
    heads: int = 4
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.heads, self.dropout = cfg.heads, cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, L, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, h, L, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, 4 * cfg.dim), nn.GELU(), nn.Linear(4 * cfg.dim, cfg.dim),
                                 nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GroupHead(nn.Module):
    """State of a frame slot (B, T, D) + the codes of that frame (B, T, N) -> logits (B, T, N, E), where group i's
    logits see only groups < i of the same frame (an exclusive cumulative sum of their embeddings)."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        N, E, D = cfg.num_groups, cfg.codebook_size, cfg.dim
        self.code_emb = nn.Parameter(torch.randn(N, E, D) * 0.02)  # embeddings of already-decided groups
        self.group_pos = nn.Parameter(torch.randn(N, D) * 0.02)  # which group is being predicted
        self.ln = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))
        self.out = nn.Parameter(torch.randn(N, D, E) * 0.02)  # one E-way classifier per group
        self.out_bias = nn.Parameter(torch.zeros(N, E))

    def prefix(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., N) -> (..., N, D): sum of the embeddings of groups < i, for each i."""
        N = codes.shape[-1]
        g = self.code_emb[torch.arange(N, device=codes.device), codes]  # (..., N, D)
        return g.cumsum(dim=-2) - g

    def forward(self, h: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        x = h.unsqueeze(-2) + prefix + self.group_pos  # (..., N, D)
        x = x + self.mlp(self.ln(x))
        return torch.einsum("...nd,nde->...ne", x, self.out) + self.out_bias  # (..., N, E)

    def logits_of_group(self, h: torch.Tensor, prefix_i: torch.Tensor, i: int) -> torch.Tensor:
        """Group i only: h (B, D), prefix_i (B, D) -> (B, E); what forward gives at index i, one group at a time."""
        x = h + prefix_i + self.group_pos[i]
        x = x + self.mlp(self.ln(x))
        return x @ self.out[i] + self.out_bias[i]


class MotionPrior(nn.Module):
    """p(codes | content) = prod_t prod_i p(c_t,i | c_t,<i, c_<t, content), a causal transformer over frames.

    forward(content (B, K, C_c), codes (B, T, N)) -> logits (B, T, N, E) for every code (teacher forcing).
    """

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        N, E, D = cfg.num_groups, cfg.codebook_size, cfg.dim
        self.content_proj = nn.Linear(cfg.content_dim, D)
        self.content_pos = nn.Parameter(torch.randn(cfg.content_tokens, D) * 0.02)
        self.frame_emb = nn.Parameter(torch.randn(N, E, D) * 0.02)  # frame token = sum over groups
        self.time_pos = nn.Parameter(torch.randn(cfg.max_frames, D) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.ln_f = nn.LayerNorm(D)
        self.head = GroupHead(cfg)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled down with depth
            if name.endswith("attn.proj.weight") or name.endswith("mlp.3.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.depth))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def frame_states(self, content: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """content (B, K, C_c), codes (B, T', N) with T' < max_frames -> states (B, T' + 1, D): state t predicts
        frame t (state 0 from content alone, state t from frames < t)."""
        N = self.cfg.num_groups
        B, T = codes.shape[:2]
        if T >= self.cfg.max_frames:
            raise ValueError(f"{T} frames of context; the prior holds at most {self.cfg.max_frames - 1}")
        prefix = self.content_proj(content) + self.content_pos  # (B, K, D)
        frames = self.frame_emb[torch.arange(N, device=codes.device), codes].sum(dim=-2)  # (B, T', D)
        x = torch.cat([prefix, frames + self.time_pos[1 : T + 1]], dim=1)  # (B, K + T', D)
        x[:, prefix.shape[1] - 1] = x[:, prefix.shape[1] - 1] + self.time_pos[0]  # slot of frame 0
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x[:, prefix.shape[1] - 1 :])  # (B, T' + 1, D)

    def forward(self, content: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        h = self.frame_states(content, codes[:, :-1])  # (B, T, D)
        return self.head(h, self.head.prefix(codes))  # (B, T, N, E)

    def nll_bits(self, content: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood in bits per frame (summed over the N groups) of codes (B, T, N)."""
        logits = self.forward(content, codes)
        nats = F.cross_entropy(logits.flatten(0, 2).float(), codes.flatten(), reduction="sum")
        return nats / (codes.shape[0] * codes.shape[1] * math.log(2))

    def frame_state(self, content: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The state (B, D) that predicts the frame after `context` (B, T', N); only the last max_frames - 1
        context frames are read (a sliding window, so sequences of any length can be sampled or coded)."""
        context = context[:, -(self.cfg.max_frames - 1):] if context.shape[1] else context
        return self.frame_states(content, context)[:, -1]

    def group_probs(self, h: torch.Tensor, prefix: torch.Tensor, i: int) -> torch.Tensor:
        """fp32 probabilities (B, E) of group i given the state h (B, D) and `prefix` (B, D), the summed
        head.code_emb[j, c_j] of the groups j < i already chosen for this frame."""
        return self.head.logits_of_group(h, prefix, i).float().softmax(dim=-1)

    @torch.no_grad()
    def next_frame(self, content: torch.Tensor, context: torch.Tensor, temperature: float = 1.0,
                   top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample the codes (B, N) of the frame after `context` (B, T', N), group by group (temperature, top-k)."""
        h = self.frame_state(content, context)
        chosen = torch.zeros(h.shape[0], self.cfg.num_groups, dtype=torch.long, device=h.device)
        prefix = torch.zeros_like(h)
        for i in range(self.cfg.num_groups):
            scaled = self.head.logits_of_group(h, prefix, i).float() / max(temperature, 1e-5)
            if top_k is not None and top_k < scaled.shape[-1]:
                kth = scaled.topk(top_k, dim=-1).values[:, -1:]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            chosen[:, i] = torch.multinomial(scaled.softmax(dim=-1), 1, generator=generator).squeeze(-1)
            prefix = prefix + self.head.code_emb[i, chosen[:, i]]
        return chosen

    @torch.no_grad()
    def generate(self, content: torch.Tensor, frames: int, prompt: torch.Tensor | None = None,
                 temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample `frames` new frames of codes (B, frames, N) after an optional prompt of real codes (B, P, N)."""
        B = content.shape[0]
        context = prompt if prompt is not None else torch.zeros(B, 0, self.cfg.num_groups, dtype=torch.long,
                                                                device=content.device)
        new = []
        for _ in range(frames):
            codes = self.next_frame(content, context, temperature, top_k, generator=generator)
            new.append(codes)
            context = torch.cat([context, codes[:, None]], dim=1)[:, -(self.cfg.max_frames - 1):]
        return torch.stack(new, dim=1)


__all__ = ["MotionPrior", "PriorConfig"]
