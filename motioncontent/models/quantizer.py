"""The group Gumbel-softmax vector quantizer of METHOD.md §5.1: BCD's low-bitrate motion bottleneck.
Deliberately different: straight-through hard samples in training, argmax in eval, gradient-trained codebooks,
α = 16 by default, and `probs` = softmax(−α·d) without Gumbel noise (§5.1/§5.2 leave these open; see below).

References:
    X. Li, Q. Chen et al., "Bitrate-Controlled Diffusion for Disentangling Motion and Content in Video", ICCV 2025,
        arXiv 2509.08376 (BCD).
    X. Jiang et al., "Latent-Domain Predictive Neural Speech Coding", arXiv 2207.08363 (TF-Codec: distance-based
        Gumbel-softmax VQ with rate control).
    E. Jang, S. Gu, B. Poole, "Categorical Reparameterization with Gumbel-Softmax", arXiv 1611.01144 (straight-through).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import einsum, rearrange
from torch import nn

from motioncontent.models.batch_random import batch_random

# Codebook entries start as N(0, 1) per coordinate: the scale of a LayerNorm'd encoder output, so every entry starts
# inside the data's typical set (no entry is born dead). With g = D/N dimensions per group the plain L2 distance is
# then about sqrt(2g) and varies by about 0.9 across entries, independent of g, so the initial logits spread by
# about α·0.9 nats. With α = 1 every frame's assignment is nearly uniform, and the rate loss then meets its target
# with Gumbel noise instead of information: run with α = 1, the toy rate test of tests/test_quantizer.py ends with
# the argmax (eval) codes collapsed to ~0 bits while the soft rate sits on target. α = 16 makes assignments
# confident from the start, so the soft rate and the hard-code rate agree (within 2% there). The encoder must emit
# motion at about unit scale for this to hold.
CODEBOOK_INIT_STD = 1.0


def group_distances(m: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Plain (not squared) L2 distance of every group vector to every entry of its group's codebook.

    m (N, M, g), codebook (N, E, g) -> (N, M, E). METHOD §5.1 says ℓ is the L2 distance; unsquared keeps the logit
    spread independent of g (see `CODEBOOK_INIT_STD`) and matches vector-quantize-pytorch's Gumbel logits.
    """
    # The difference form, not ||a||² − 2ab + ||b||²: it cannot cancel to a negative number near an entry, and
    # cdist's backward is zero (not NaN) at distance exactly 0.
    return torch.cdist(m, codebook, compute_mode="donot_use_mm_for_euclid_dist")


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, T, D) motion after quantization; straight-through in training
    codes: torch.Tensor  # (B, T, N) int64 codebook index per group
    probs: torch.Tensor | None  # (B, T, N, E) soft assignment μ (fp32, before the straight-through step), or None
    aux_loss: torch.Tensor | None = None  # a library quantizer's own loss (commitment, ...), to add to the objective


class GroupGumbelQuantizer(nn.Module):
    """Split m_t ∈ R^D into N groups; quantize group i against its own codebook E_i of E entries (METHOD §5.1).

    Training: μ = GumbelSoftmax(−α·d, τ) with hard=True, i.e. a one-hot sample in the forward pass and the relaxed
    sample's gradient in the backward pass; m̂ = Σ_j μ_j e_j. Eval: the nearest entry (argmax), deterministic.
    `temperature` (τ) is a plain attribute so the training system can anneal it every step. The default α = 16
    assumes unit-scale motion (see `CODEBOOK_INIT_STD`); METHOD leaves α open (§12.5).
    """

    def __init__(
        self,
        dim: int,
        num_groups: int = 8,
        codebook_size: int = 16,
        alpha: float = 16.0,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        assert dim % num_groups == 0, f"dim {dim} is not divisible into {num_groups} groups"
        assert codebook_size >= 2, "a codebook of one entry carries no bits"
        self.dim = dim
        self.num_groups = num_groups  # N
        self.codebook_size = codebook_size  # E (K_e in METHOD)
        self.alpha = float(alpha)  # α: inverse temperature of the distances
        self.temperature = float(temperature)  # τ of the Gumbel softmax
        # (N, E, g). A plain nn.Parameter updated by the optimizer, no EMA: METHOD §5.1 trains the codebooks end to end
        # through the relaxation, and DDP's gradient all-reduce then keeps them identical on every rank for free;
        # EMA buffers would need their own sync (ECOSYSTEM §8).
        self.codebook = nn.Parameter(torch.empty(num_groups, codebook_size, dim // num_groups))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.codebook, mean=0.0, std=CODEBOOK_INIT_STD)

    @property
    def capacity_bits(self) -> float:
        """N · log2(E): the most bits per frame the codes can carry."""
        return self.num_groups * math.log2(self.codebook_size)

    def forward(self, motion: torch.Tensor) -> QuantizerOutput:
        """motion (B, T, D) -> QuantizerOutput with quantized (B, T, D) in motion's dtype, codes, probs (fp32)."""
        B, T, D = motion.shape
        assert D == self.dim, f"expected motion of width {self.dim}, got {D}"
        # Distances, the Gumbel softmax and the probabilities feed the entropy: fp32 even under bf16 autocast (§5.2).
        with torch.autocast(device_type=motion.device.type, enabled=False):
            m = rearrange(motion.float(), "b t (n g) -> n (b t) g", n=self.num_groups)  # (N, M, g)
            codebook = self.codebook.float()  # (N, E, g)
            logits = -self.alpha * group_distances(m, codebook)  # (N, M, E)
            # The rate uses softmax(logits), not the relaxed Gumbel sample: by the Gumbel-max trick the hard sample
            # argmax(logits + G) is drawn exactly from softmax(logits), whatever τ, so its batch mean is the
            # (noise-free, τ-free) expected histogram of the codes actually sent in training (METHOD §5.2).
            probs = logits.softmax(dim=-1)  # (N, M, E)
            if self.training:
                mu = self._gumbel_hard(logits, B)  # (N, M, E) one-hot fwd, soft bwd
                codes = mu.argmax(dim=-1)  # (N, M)
                # Through μ, not a lookup: the gradient reaches the logits (so the input and every entry's distance)
                # as well as the selected entries. Forward values are still exact entries, since μ is exactly 0/1.
                quantized = einsum(mu, codebook, "n m e, n e g -> n m g")  # (N, M, g)
            else:
                codes = logits.argmax(dim=-1)  # (N, M)
                quantized = self._lookup(rearrange(codes, "n m -> m n"))  # (M, N, g)
                quantized = rearrange(quantized, "m n g -> n m g")
        quantized = rearrange(quantized, "n (b t) g -> b t (n g)", b=B).to(motion.dtype)  # (B, T, D)
        codes = rearrange(codes, "n (b t) -> b t n", b=B)  # (B, T, N)
        probs = rearrange(probs, "n (b t) e -> b t n e", b=B)  # (B, T, N, E)
        return QuantizerOutput(quantized=quantized, codes=codes, probs=probs)

    def _gumbel_hard(self, logits: torch.Tensor, batch: int) -> torch.Tensor:
        """F.gumbel_softmax(logits, tau, hard=True) for logits (N, B*T, E), written out so that the Gumbel noise is
        drawn per clip through models/batch_random.py: a DDP run then draws for each clip what one process with
        the global batch draws (F.gumbel_softmax draws from the process's own stream)."""
        n, m, e = logits.shape
        noise = batch_random("exponential", (batch, m // batch, n, e), logits.device)  # (B, T, N, E) ~ Exp(1)
        gumbels = -rearrange(noise, "b t n e -> n (b t) e").log()
        soft = ((logits + gumbels) / self.temperature).softmax(dim=-1)
        hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
        return hard - soft.detach() + soft

    def _lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., N) -> (..., N, g): entry codes[..., i] of codebook i, fp32."""
        group = torch.arange(self.num_groups, device=codes.device)  # broadcasts against (..., N)
        return self.codebook.float()[group, codes]

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T, N) -> (B, T, D) fp32: exactly what forward returns for these codes in eval mode."""
        assert codes.shape[-1] == self.num_groups, f"expected {self.num_groups} codes per frame, got {codes.shape[-1]}"
        return rearrange(self._lookup(codes.long()), "... n g -> ... (n g)")

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_groups={self.num_groups}, codebook_size={self.codebook_size}, "
            f"alpha={self.alpha}, temperature={self.temperature}, capacity_bits={self.capacity_bits:.1f}"
        )
