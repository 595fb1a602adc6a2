"""EDM preconditioning, training-noise distribution, loss weighting and sampling schedule (METHOD.md §7, §8.1).
Differs on purpose: the loss is a mean over elements, not a sum, and all sigma maths is fp32 with autocast off.

Reference: Karras, Aittala, Aila, Laine, "Elucidating the Design Space of Diffusion-Based Generative Models",
NeurIPS 2022, arXiv 2206.00364 (Table 1; Eq. 2, 5, 7, 8). Layout after k-diffusion's `Denoiser`
(crowsonkb/k-diffusion): a small parameter-free object the LightningModule holds next to the network.

Why the two differences:
- EDM's training loop sums the weighted squared error over elements. BCD adds 0.04 * L_VQ to this loss (§8.1), so
  a sum would tie the balance between the two terms to the latent size; a mean keeps it stable across codecs.
- bf16 loses about three significant digits. c_noise = ln(sigma) / 4 and c_skip ~ 1 - sigma^2 / sigma_data^2 at
  small sigma are exactly where that hurts (ECOSYSTEM.md §6), so scalings are fp32 whatever autocast says.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Callable

import torch

from motioncontent.models.batch_random import batch_random

Network = Callable[..., torch.Tensor]  # F(c_in * x, c_noise, **cond) -> raw output, same shape as x
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # D(x, sigma (B,)) -> x0 estimate


def fp32_region(device: torch.device) -> AbstractContextManager:
    """A context with autocast off on device, so that the sigma maths is not silently done in bf16."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return nullcontext()


def append_dims(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) with ndim dims, so a per-sample value broadcasts over x (k-diffusion's helper)."""
    return t.reshape(t.shape + (1,) * (ndim - t.ndim))


def batch_sigma(sigma: torch.Tensor | float, batch: int, device: torch.device) -> torch.Tensor:
    """A scalar or (B,) sigma as an fp32 (B,) tensor on device."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=device)
    if sigma.ndim == 0:
        return sigma.expand(batch)
    if sigma.shape != (batch,):
        raise ValueError(f"sigma must be a scalar or have shape ({batch},), got {tuple(sigma.shape)}")
    return sigma


@dataclass
class EDM:
    """EDM preconditioning, noise distribution and loss weighting (Karras et al. 2022, Table 1)."""

    sigma_data: float = 0.5  # std of the (scaled) latents; METHOD.md §7 suggests scaling latents to match
    p_mean: float = -1.2  # training noise: ln sigma ~ N(p_mean, p_std^2)
    p_std: float = 1.2
    sigma_min: float = 0.002  # sampling schedule range and curvature
    sigma_max: float = 80.0
    rho: float = 7.0

    def __post_init__(self) -> None:
        if not (self.sigma_data > 0 and self.p_std > 0 and self.rho > 0):
            raise ValueError(f"sigma_data, p_std and rho must be positive: {self}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max: {self}")

    # ------------------------------------------------------------------ preconditioning (Table 1, Eq. 7)

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """c_skip, c_out, c_in, c_noise for sigma (any shape), fp32."""
        with fp32_region(sigma.device):
            sigma = sigma.float()
            sd2 = self.sigma_data**2
            norm = (sigma**2 + sd2).rsqrt()  # 1 / sqrt(sigma^2 + sigma_data^2), the std of the noisy input
            c_skip = sd2 * norm**2
            c_out = sigma * self.sigma_data * norm
            c_in = norm
            c_noise = sigma.log() / 4  # -inf at sigma = 0: the samplers never evaluate D there
        return c_skip, c_out, c_in, c_noise

    def denoise(self, network: Network, x: torch.Tensor, sigma: torch.Tensor, **cond) -> torch.Tensor:
        """D(x; sigma) = c_skip x + c_out F(c_in x; c_noise, **cond). x (B, ...) ; sigma (B,) broadcast over the
        other dims of x. Calls network(c_in * x, c_noise, **cond) with c_noise of shape (B,)."""
        sigma = batch_sigma(sigma, x.shape[0], x.device)  # (B,) fp32; a scalar is accepted too
        c_skip, c_out, c_in, c_noise = self.scalings(sigma)  # each (B,)
        with fp32_region(x.device):
            net_in = (append_dims(c_in, x.ndim) * x.float()).to(x.dtype)  # unit variance, in the caller's dtype
        f = network(net_in, c_noise, **cond)  # outside the fp32 region: autocast applies to the network only
        with fp32_region(x.device):
            # (B, ...) in fp32: at small sigma, c_out F is a correction to x far below bf16's resolution
            d = append_dims(c_skip, x.ndim) * x.float() + append_dims(c_out, x.ndim) * f.float()
        return d.to(x.dtype)

    # ------------------------------------------------------------------ training (Sec. 5, Eq. 2 and 8)

    def sample_sigma(self, batch: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) training noise levels, ln sigma ~ N(p_mean, p_std^2); per clip of the global batch under DDP
        (models/batch_random.py)."""
        ln_sigma = batch_random("randn", (batch,), device, generator)
        return (ln_sigma * self.p_std + self.p_mean).exp()

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma * sigma_data)^2."""
        with fp32_region(sigma.device):
            sigma = sigma.float()
            # = 1 / c_out^2: the loss on F's own scale has unit weight at every sigma (EDM Sec. 5)
            return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2

    def training_loss(
        self,
        network: Network,
        x0: torch.Tensor,
        sigma: torch.Tensor | float | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **cond,
    ) -> torch.Tensor:
        """Weighted denoising loss, a scalar: mean over batch of lambda(sigma) * mean over elements of
        (D(x0 + sigma n; sigma) - x0)^2. sigma and noise are drawn when not given (so tests and callers can fix
        them); sigma may be a float, a 0-d or a (B,) tensor. x0 (B, ...), noise like x0."""
        b = x0.shape[0]
        if sigma is None:
            sigma = self.sample_sigma(b, x0.device, generator)
        sigma = batch_sigma(sigma, b, x0.device)  # (B,) fp32
        if noise is None:
            noise = batch_random("randn", x0.shape, x0.device, generator)
        with fp32_region(x0.device):
            x = (x0.float() + append_dims(sigma, x0.ndim) * noise.float()).to(x0.dtype)  # (B, ...) noisy input
        d = self.denoise(network, x, sigma, **cond)
        with fp32_region(x0.device):
            mse = (d.float() - x0.float()).square().flatten(1).mean(1)  # (B,) per-sample mean over elements
            return (self.loss_weight(sigma) * mse).mean()

    # ------------------------------------------------------------------ sampling schedule (Eq. 5)

    def sigmas(self, steps: int, device=None) -> torch.Tensor:
        """The Karras schedule: steps values from sigma_max to sigma_min (rho spacing) followed by 0 -> (steps + 1,)."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        # float64 for the rho-th powers: in fp32, sigma_min^(1/rho) ** rho drifts by a few ulp
        ramp = torch.linspace(0, 1, steps, dtype=torch.float64)  # steps = 1 gives just sigma_max
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        ramp = (hi + ramp * (lo - hi)) ** self.rho
        return torch.cat([ramp, ramp.new_zeros(1)]).to(device=device, dtype=torch.float32)


def edm_denoiser(edm: EDM, network: Network, **cond) -> Denoiser:
    """Bind network and conditioning, so that a sampler only sees denoiser(x, sigma) -> x0 estimate."""
    return functools.partial(edm.denoise, network, **cond)


def check_guidance(guidance: float, interval: tuple[float, float] | None = None) -> None:
    """ValueError unless guidance >= 0 and the interval, if any, is 0 <= lo < hi."""
    if guidance < 0:
        raise ValueError(f"content guidance must be 0 or more (1: no guidance), not {guidance}")
    if interval is not None and not 0 <= interval[0] < interval[1]:
        raise ValueError(f"the guidance interval needs 0 <= lo < hi, not {list(interval)}")


def guided_denoiser(edm: EDM, network: Network, content: torch.Tensor, guidance: float,
                    interval: tuple[float, float] | None = None, **cond) -> Denoiser:
    """Classifier-free guidance on the content (Ho & Salimans 2022, arXiv 2207.12598): D_u + w (D_c - D_u), with
    D_c the denoiser given the content, D_u given the null content (zeros, what `content_dropout` trains it on) and
    both given the same other conditions (the motion), so only what content adds is amplified. w = guidance; 1 is
    the plain conditional denoiser (one network call), otherwise both run as one doubled batch.

    interval (lo, hi): guide only where lo < sigma <= hi and use D_c elsewhere (Kynkaanniemi et al. 2024, "Applying
    Guidance in a Limited Interval", arXiv 2404.07724): the large sigmas lay out the pose, which the motion should
    decide, the middle ones the colours, which content should."""
    if guidance == 1.0:
        return edm_denoiser(edm, network, content=content, **cond)
    lo, hi = interval if interval is not None else (0.0, float("inf"))
    both_content = torch.cat([content, torch.zeros_like(content)])  # (2B, K, C_c): conditional, then null
    both_cond = {name: torch.cat([value, value]) for name, value in cond.items()}

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = batch_sigma(sigma, x.shape[0], x.device)  # (B,)
        inside = (sigma > lo) & (sigma <= hi)
        if not bool(inside.any()):  # the samplers give every clip the same sigma: one plain call
            return edm.denoise(network, x, sigma, content=content, **cond)
        d = edm.denoise(network, torch.cat([x, x]), torch.cat([sigma, sigma]), content=both_content, **both_cond)
        d_cond, d_null = d.chunk(2)
        return torch.where(append_dims(inside, x.ndim), d_null + guidance * (d_cond - d_null), d_cond)

    return denoise


__all__ = ["EDM", "check_guidance", "edm_denoiser", "guided_denoiser", "fp32_region", "append_dims", "batch_sigma"]
