"""Ablation baselines for METHOD.md §5.1's motion bottleneck: FSQ and grouped VQ from vector-quantize-pytorch.
Deliberately different from BCD: no soft assignment, so `probs` is None; the caller logs only the hard-code rate and
skips the rate loss, and the rate is bounded by the capacity alone. They return the same `QuantizerOutput`.

References: F. Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple", arXiv 2309.15505; A. van den Oord et
al., "Neural Discrete Representation Learning", arXiv 1711.00937; C. Fifty et al., "Restructuring Vector Quantization
with the Rotation Trick", arXiv 2410.06424. Compare with BCD (arXiv 2509.08376) and TF-Codec (arXiv 2207.08363).
Pitfalls of the library that shape this file are listed in ECOSYSTEM.md §8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from vector_quantize_pytorch import FSQ, VectorQuantize

from motioncontent.models.quantizer import CODEBOOK_INIT_STD, QuantizerOutput


def _fp32(x: torch.Tensor):
    """A context that turns autocast off: the library only does so for CUDA, so under CPU bf16 its output would come
    back in bf16 (ECOSYSTEM §8). The baselines are tiny, so fp32 costs nothing that matters."""
    return torch.autocast(device_type=x.device.type, enabled=False)


class FSQQuantizer(nn.Module):
    """Finite scalar quantization with `num_groups` FSQ codes per frame.

    Each group is one FSQ code whose index is the mixed-radix number of its per-dimension levels, so a group has
    E = Π levels entries and codes are (B, T, N) with N = num_groups (1 by default). One joint index per group, rather
    than one index per scalar, keeps a single E for every group, so `capacity_bits` = N·log2 Π levels and
    `code_bits_per_frame(codes, E)` measure the same thing. FSQ projects D -> N·len(levels) and back when they differ.
    """

    def __init__(self, dim: int, levels: Sequence[int] = (8, 5, 5, 5), num_groups: int = 1) -> None:
        super().__init__()
        self.dim = dim
        self.levels = list(levels)
        self.num_groups = num_groups
        # keep_num_codebooks_dim: indices stay (B, T, N) even for N = 1, as the rest of the project expects.
        self.fsq = FSQ(levels=self.levels, dim=dim, num_codebooks=num_groups, keep_num_codebooks_dim=True)
        self.codebook_size = int(math.prod(self.levels))
        self.temperature = 1.0  # ignored; present so the annealing code can set it on any quantizer

    @property
    def capacity_bits(self) -> float:
        return self.num_groups * math.log2(self.codebook_size)

    def forward(self, motion: torch.Tensor) -> QuantizerOutput:
        """motion (B, T, D) -> quantized (B, T, D) in motion's dtype (rounding is straight-through), codes (B, T, N)."""
        with _fp32(motion):
            quantized, codes = self.fsq(motion.float())  # (B, T, D), (B, T, N) int32
        return QuantizerOutput(quantized=quantized.to(motion.dtype), codes=codes.long(), probs=None)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T, N) -> (B, T, D) fp32, equal to forward's output in eval mode."""
        with _fp32(codes):
            return self.fsq.indices_to_codes(codes.long())


class VQQuantizer(nn.Module):
    """Plain grouped VQ (nearest entry, no sampling): N heads of D/N dimensions, one codebook of E entries each.

    The codebooks are trained by gradient (`learnable_codebook=True, ema_update=False`), not by the library's default
    EMA: its EMA buffers are synced only if a process group exists when the module is built, which LightningCLI
    does not guarantee, so ranks would drift apart silently (ECOSYSTEM §8); parameters are kept in sync by DDP. The
    codebook then learns from the library's commitment loss mse(m̂, m), which pulls entries and inputs together,
    both with `commitment_weight`; it is returned as `aux_loss` and the caller must add it to its objective.
    The input gets its gradient through the rotation trick (the library default), an improved straight-through.
    """

    def __init__(self, dim: int, num_groups: int = 8, codebook_size: int = 16, commitment_weight: float = 1.0) -> None:
        super().__init__()
        assert dim % num_groups == 0, f"dim {dim} is not divisible into {num_groups} groups"
        self.dim = dim
        self.num_groups = num_groups
        self.codebook_size = codebook_size
        self.temperature = 1.0  # ignored; present so the annealing code can set it on any quantizer
        self.vq = VectorQuantize(
            dim=dim,
            codebook_size=codebook_size,
            codebook_dim=dim // num_groups,  # heads · codebook_dim = dim: no projection in or out
            heads=num_groups,
            separate_codebook_per_head=True,
            learnable_codebook=True,
            ema_update=False,
            sync_codebook=False,  # nothing to sync without EMA, k-means or dead-code replacement
            commitment_weight=commitment_weight,
        )
        # The library's kaiming-uniform init is tiny against unit-scale motion; start like GroupGumbelQuantizer so
        # the ablation differs in the quantizer alone.
        nn.init.normal_(self.vq.codebook, mean=0.0, std=CODEBOOK_INIT_STD)  # (N, E, D/N)

    @property
    def capacity_bits(self) -> float:
        return self.num_groups * math.log2(self.codebook_size)

    def forward(self, motion: torch.Tensor) -> QuantizerOutput:
        """motion (B, T, D) -> quantized (B, T, D) in motion's dtype, codes (B, T, N), aux_loss (commitment)."""
        with _fp32(motion):
            quantized, codes, aux_loss = self.vq(motion.float())  # (B, T, D), (B, T, N), scalar
        return QuantizerOutput(quantized=quantized.to(motion.dtype), codes=codes.long(), probs=None, aux_loss=aux_loss)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T, N) -> (B, T, D) fp32, equal to forward's output in eval mode."""
        return self.vq.get_output_from_indices(codes.long())
