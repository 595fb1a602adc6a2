"""Rate arithmetic of METHOD.md §5.2: bits per frame from code histograms, kbps, and the two-sided rate loss.
Deliberately different: under DDP the soft histogram is the global one and its gradient is scaled by the world size,
so that DDP's gradient *averaging* still yields the gradient of the global rate (the §5.2 sketch is single-process).

The estimate is the order-0, per-group rate Σ_i H(p̄_i): what a static entropy coder spends per frame, ignoring
dependencies between groups and over time (a learned prior over the codes, METHOD §9, can do better).

References: X. Li, Q. Chen et al., "Bitrate-Controlled Diffusion for Disentangling Motion and Content in Video",
ICCV 2025, arXiv 2509.08376; X. Jiang et al., "Latent-Domain Predictive Neural Speech Coding" (TF-Codec),
arXiv 2207.08363 (the rate-controlled VQ the entropy estimate comes from).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

Number = float | torch.Tensor

# Floor inside the log only: p·log2 p is 0 at p = 0 either way, but the clamp keeps the gradient finite there.
_P_FLOOR = 1e-12
_UNITS = ("bits", "kbps")


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """A detached copy of t summed over all ranks (t itself is left alone)."""
    t = t.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def entropy_bits(p: torch.Tensor) -> torch.Tensor:
    """p (..., E), rows summing to 1 -> (...) Shannon entropy in bits."""
    return -(p * torch.log2(p.clamp_min(_P_FLOOR))).sum(dim=-1)


def code_histogram(codes: torch.Tensor, codebook_size: int, sync: bool = False) -> torch.Tensor:
    """codes (..., N) int -> (N, E) int64 counts of each entry per group; summed over ranks if sync under DDP."""
    N, E = codes.shape[-1], codebook_size
    flat = codes.reshape(-1, N).long()  # (M, N)
    if flat.numel() and (flat.min() < 0 or flat.max() >= E):
        raise ValueError(f"codes must lie in [0, {E}), got [{flat.min().item()}, {flat.max().item()}]")
    # One bincount over N·E bins: group i's entry j lands in bin i·E + j.
    offsets = torch.arange(N, device=flat.device) * E  # (N,)
    counts = torch.bincount((flat + offsets).reshape(-1), minlength=N * E).view(N, E)  # (N, E)
    if sync and _distributed():
        counts = _all_reduce_sum(counts)
    return counts


def group_perplexity(histogram: torch.Tensor) -> torch.Tensor:
    """histogram (N, E) of counts or probabilities -> (N,) perplexity 2**H_i: the number of entries group i
    effectively uses (E when uniform, 1 when one entry or no frames at all)."""
    h = histogram.double()
    p = h / h.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)  # (N, E)
    return torch.exp2(entropy_bits(p)).float()


def soft_bits_per_frame(probs: torch.Tensor, sync: bool = True) -> torch.Tensor:
    """probs (..., N, E) -> scalar Σ_i H(p̄_i) in bits/frame, p̄_i the mean soft histogram of group i. fp32,
    differentiable (METHOD §5.2).

    Under torch.distributed (initialised, world size > 1) with sync=True, p̄ is the global mean over all ranks'
    frames (sums and counts all-reduced), so every rank returns the same value. The gradient flows through the
    local probs only, multiplied by the world size: DDP averages gradients over ranks, and the average of
    ws · ∂H/∂(local probs) over ranks is exactly the gradient of the global H. (Without the factor the rate term
    would weigh 1/ws of its single-process weight, while a per-rank mean reconstruction loss keeps its weight.)
    """
    N, E = probs.shape[-2:]
    with torch.autocast(device_type=probs.device.type, enabled=False):
        p = probs.float().reshape(-1, N, E)  # (M, N, E)
        p_sum = p.sum(dim=0)  # (N, E)
        count = torch.tensor(float(p.shape[0]), device=p.device)
        if sync and _distributed():
            ws = dist.get_world_size()
            # Forward value: the global sum exactly (the bracket is 0); backward: ws × the local part.
            p_sum = _all_reduce_sum(p_sum) + ws * (p_sum - p_sum.detach())
            count = _all_reduce_sum(count)
        p_bar = p_sum / count  # (N, E)
        return entropy_bits(p_bar).sum()


@torch.no_grad()
def code_bits_per_frame(codes: torch.Tensor, codebook_size: int, sync: bool = True) -> torch.Tensor:
    """codes (..., N) int -> scalar Σ_i H_i in bits/frame of the hard-code histograms: the measured rate. fp32, not
    differentiable; the histogram is global under DDP when sync. It underestimates on few frames (§5.2)."""
    counts = code_histogram(codes, codebook_size, sync=sync).double()  # (N, E)
    p = counts / counts.sum(dim=-1, keepdim=True).clamp_min(1.0)
    return entropy_bits(p).sum().float()


def bits_to_kbps(bits_per_frame: Number, fps: float) -> Number:
    """bitrate = bits per frame × frames per second (METHOD §5.2); 160 bits/frame at 25 fps is 4 kbps."""
    return bits_per_frame * fps / 1000.0


def kbps_to_bits(kbps: Number, fps: float) -> Number:
    """The inverse of `bits_to_kbps`: kbps -> bits per frame."""
    return kbps * 1000.0 / fps


def rate_loss(
    bits_per_frame: torch.Tensor,
    target_bits_per_frame: float,
    unit: str = "bits",
    fps: float | None = None,
) -> torch.Tensor:
    """L_VQ = (H − H_target)², two-sided (METHOD §5.2), with the miss measured in `unit`: 'bits' (bits/frame) or
    'kbps' (needs fps). The unit sets λ's effective weight: at 25 fps 'bits' weighs (1000/25)² = 1600× 'kbps'.
    λ itself is applied by the caller."""
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {_UNITS}, got {unit!r}")
    miss = bits_per_frame.float() - target_bits_per_frame
    if unit == "kbps":
        if fps is None:
            raise ValueError("rate_loss(unit='kbps') needs fps")
        miss = bits_to_kbps(miss, fps)
    return miss.square()
