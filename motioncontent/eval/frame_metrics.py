"""Per-frame reconstruction metrics shared by the Sprites and talking-head benchmarks (torchmetrics underneath)."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

PSNR_CAP = 100.0  # identical frames have infinite PSNR; capped so that means and JSON stay finite


def frame_metrics(generated: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Videos (B, T, C, H, W) in [-1, 1] -> per-frame L1, PSNR and SSIM (B * T,) on [0, 1] intensities.

    Time is flattened into the batch: a 5-D input would make torchmetrics compute volumetric SSIM."""
    frames, truth = (generated.flatten(0, 1).float() + 1) / 2, (target.flatten(0, 1).float() + 1) / 2
    return {
        "l1": (frames - truth).abs().mean(dim=(1, 2, 3)),
        "psnr": peak_signal_noise_ratio(frames, truth, data_range=1.0, reduction="none",
                                        dim=(1, 2, 3)).clamp(max=PSNR_CAP),
        "ssim": structural_similarity_index_measure(frames, truth, data_range=1.0, reduction="none"),
    }


__all__ = ["PSNR_CAP", "frame_metrics"]
