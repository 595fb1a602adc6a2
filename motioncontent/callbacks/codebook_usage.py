"""CodebookUsage: how the quantizer's codebooks are used on the validation split.

Per-group perplexity (2^entropy: the effective number of entries in use), the fraction of dead entries (never
picked on the split), and a heatmap image of usage (one row per group, one column per entry).
"""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule, Trainer

from motioncontent.callbacks.code_statistics import CodeStatistics
from motioncontent.callbacks.media import log_image
from motioncontent.models.rate import group_perplexity


class CodebookUsage(CodeStatistics):
    def report(self, trainer: Trainer, pl_module: LightningModule, histogram: torch.Tensor) -> None:
        perplexity = group_perplexity(histogram)  # (N,)
        dead = (histogram == 0).double().mean()
        pl_module.log_dict({
            "codebook/perplexity_mean": float(perplexity.mean()),
            "codebook/perplexity_min": float(perplexity.min()),
            "codebook/dead_fraction": float(dead),
        })
        if trainer.is_global_zero:
            usage = histogram / histogram.sum(dim=-1, keepdim=True).clamp_min(1)
            heatmap = (usage / usage.max().clamp_min(1e-12)).float().cpu().numpy()  # (N, E) in [0, 1]
            log_image(trainer.logger, "codebook/usage", heatmap, trainer.global_step)
            writer = getattr(trainer.logger, "experiment", None)
            if writer is not None and hasattr(writer, "add_histogram"):
                writer.add_histogram("codebook/perplexity_per_group", perplexity.float().cpu(), trainer.global_step)
