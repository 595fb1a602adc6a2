"""Bitrate: the measured rate of the motion codes on the validation split (METHOD.md 5.2-5.3).

Logs the empirical bits/frame of the hard codes over the whole split (the order-0 rate a static entropy coder
would spend), the same in kbps at the data's fps, the target and the capacity N * log2(E).
"""

from __future__ import annotations

import math

import torch
from lightning.pytorch import LightningModule, Trainer

from motioncontent.callbacks.code_statistics import CodeStatistics
from motioncontent.models.rate import entropy_bits


class Bitrate(CodeStatistics):
    def report(self, trainer: Trainer, pl_module: LightningModule, histogram: torch.Tensor) -> None:
        bits = float(entropy_bits(histogram / histogram.sum(dim=-1, keepdim=True).clamp_min(1)).sum())
        fps = float(pl_module.hparams.get("fps", 0.0))
        capacity = pl_module.quantizer.num_groups * math.log2(pl_module.quantizer.codebook_size)
        values = {
            "rate/bits_per_frame": bits,
            "rate/target_bits_per_frame": float(pl_module.target_bits),
            "rate/capacity_bits_per_frame": capacity,
            "rate/fraction_of_capacity": bits / capacity if capacity else 0.0,
        }
        if fps:
            values["rate/kbps"] = bits * fps / 1000.0
        # Computed from an already all-reduced histogram: identical on every rank, so no sync_dist.
        pl_module.log_dict(values)
