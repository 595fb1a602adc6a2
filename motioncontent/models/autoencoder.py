"""The frame tokenizer of METHOD.md section 3: a per-frame convolutional autoencoder with a KL-regularised latent.
Differs on purpose: trained by the project (no pre-trained VAE can be downloaded), small enough for a CPU, and it
starts with a lossless pixel-unshuffle instead of a full-resolution conv stage, which is most of a VAE's cost.

Layout follows the Stable Diffusion / LDM KL autoencoder (Rombach et al. 2022): residual conv blocks, stride-2
convs down, nearest-neighbour upsampling + conv up, a diagonal Gaussian posterior (mean, log-variance) and a small
KL weight. There is no self-attention block: at 16x16 latents the conv receptive field covers the frame, and
attention was the slowest part on a CPU. The latent scale factor (so latents have unit variance, LDM's 0.18215)
is a buffer, fitted on training data when training ends, so it lives in the checkpoint's state_dict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from motioncontent.errors import MotionContentError

CHECKPOINT_KEY = "frame_autoencoder"  # the entry a FrameAutoencoderModule checkpoint carries (its config)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, twice, plus a (1x1 when the width changes) skip."""

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int):
        super().__init__()
        self.block = nn.Sequential(
            _norm(in_channels, norm_groups), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1),
            _norm(out_channels, norm_groups), nn.SiLU(), nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.block(x)


@dataclass
class AutoencoderConfig:
    """Sizes of a FrameAutoencoder.

    downsample = pixel_unshuffle * 2 ** (len(widths) - 1): the unshuffle folds pixel_unshuffle^2 pixels into
    channels losslessly, then each further level halves the side with a stride-2 conv. widths: channels per level.
    norm_groups: GroupNorm groups (at most; gcd with the width). LDM's 32 suits its 128-512 channels; at width 32
    it is one channel per group, an instance norm, which removes each channel's level from every frame and costs
    a narrow codec its colours (README "Latent frame codec"), so narrow codecs take fewer groups.
    """

    image_channels: int = 3
    latent_channels: int = 4
    widths: list[int] = field(default_factory=lambda: [64, 128])
    blocks_per_level: int = 1
    pixel_unshuffle: int = 2
    norm_groups: int = 32

    @property
    def downsample(self) -> int:
        return self.pixel_unshuffle * 2 ** (len(self.widths) - 1)


class Encoder(nn.Module):
    """(N, C, H, W) frames -> (N, 2 * latent_channels, H / f, W / f): posterior mean and log-variance."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.unshuffle = cfg.pixel_unshuffle
        layers: list[nn.Module] = [nn.Conv2d(cfg.image_channels * cfg.pixel_unshuffle**2, cfg.widths[0], 3, padding=1)]
        width = cfg.widths[0]
        for level, out in enumerate(cfg.widths):
            for _ in range(cfg.blocks_per_level):
                layers.append(ResBlock(width, out, cfg.norm_groups))
                width = out
            if level < len(cfg.widths) - 1:
                layers.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        layers += [ResBlock(width, width, cfg.norm_groups), _norm(width, cfg.norm_groups), nn.SiLU(),
                   nn.Conv2d(width, 2 * cfg.latent_channels, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        return self.layers(x)


class Decoder(nn.Module):
    """(N, latent_channels, h, w) -> (N, C, h * f, w * f) frames (unbounded; callers clamp to [-1, 1])."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.unshuffle = cfg.pixel_unshuffle
        width = cfg.widths[-1]
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, width, 3, padding=1),
                                   ResBlock(width, width, cfg.norm_groups)]
        for level in reversed(range(len(cfg.widths))):
            out = cfg.widths[level]
            for _ in range(cfg.blocks_per_level):
                layers.append(ResBlock(width, out, cfg.norm_groups))
                width = out
            if level > 0:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(width, width, 3, padding=1)]
        layers += [_norm(width, cfg.norm_groups), nn.SiLU(),
                   nn.Conv2d(width, cfg.image_channels * cfg.pixel_unshuffle**2, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.layers(z)
        return F.pixel_shuffle(x, self.unshuffle) if self.unshuffle > 1 else x


class FrameAutoencoder(nn.Module):
    """Frames (N, C, H, W) in [-1, 1] <-> latents (N, latent_channels, H / f, W / f).

    `posterior(x)` gives (mean, logvar) for training; `encode(x)` the scaled posterior mean (deterministic, so
    latents can be cached), `decode(z)` undoes the scale. `latent_scale` is 0 until fitted (fit_latent_scale).
    """

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer("latent_scale", torch.zeros(()))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)  # as LDM: keeps exp(logvar) finite early in training

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Decode unscaled latents (what training feeds the decoder)."""
        return self.decoder(z)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0] * self.fitted_scale()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z / self.fitted_scale())

    def fitted_scale(self) -> torch.Tensor:
        if float(self.latent_scale) <= 0:
            raise MotionContentError("this frame autoencoder has no fitted latent scale (training did not reach its "
                                     "end); use the checkpoint written when training finished")
        return self.latent_scale

    @torch.no_grad()
    def fit_latent_scale(self, frame_batches: Iterable[torch.Tensor]) -> float:
        """Set latent_scale = 1 / std of the posterior means over the given frame batches; returns it.

        The std is taken over all elements about their mean (LDM's recipe); it is summed in float64 so that long
        passes do not lose precision, and batches may come from any loader (frames (N, C, H, W) in [-1, 1]).
        """
        total, total_sq, count = 0.0, 0.0, 0
        for frames in frame_batches:
            mean = self.posterior(frames)[0].double()
            total += mean.sum().item()
            total_sq += mean.square().sum().item()
            count += mean.numel()
        if count == 0:
            raise ValueError("fit_latent_scale got no frames")
        variance = max(total_sq / count - (total / count) ** 2, 1e-12)
        self.latent_scale.fill_(1.0 / math.sqrt(variance))
        return float(self.latent_scale)


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), summed over a latent and averaged over the batch (as LDM)."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1).mean()


# ---- loading a trained autoencoder --------------------------------------------------------------------------
def autoencoder_checkpoint_entry(cfg: AutoencoderConfig) -> dict[str, Any]:
    """What a training checkpoint stores under CHECKPOINT_KEY, so a codec can rebuild the network by itself."""
    return {"config": asdict(cfg), "state_prefix": "autoencoder."}


def load_frame_autoencoder(path: str | Path) -> FrameAutoencoder:
    """The frozen (eval, no grad) FrameAutoencoder of a FrameAutoencoderModule checkpoint; clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise MotionContentError(f"frame autoencoder checkpoint not found: {path} (train one with "
                                 f"`make train-autoencoder-sprites` or `make train-autoencoder-talking-heads`)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise MotionContentError(f"{path} is not a readable PyTorch checkpoint ({type(error).__name__})") from None
    entry = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not entry:
        what = checkpoint.get("hyper_parameters", {}).get("_class_path") if isinstance(checkpoint, dict) else None
        raise MotionContentError(f"{path} is not a frame autoencoder checkpoint"
                                 + (f" (it holds {what})" if what else "")
                                 + "; give the checkpoint a `make train-autoencoder-...` run writes")
    model = FrameAutoencoder(AutoencoderConfig(**entry["config"]))
    prefix = entry["state_prefix"]
    state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    model.load_state_dict(state)
    model.fitted_scale()  # fail now, with the reason, rather than at the first encode
    return model.eval().requires_grad_(False)


__all__ = ["AutoencoderConfig", "FrameAutoencoder", "kl_divergence", "load_frame_autoencoder"]
