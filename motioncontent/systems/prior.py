"""MotionPriorModule: trains the autoregressive motion prior (models/prior.py, METHOD.md section 9) on the motion codes
of a frozen BCD checkpoint, read from any clip DataModule on the fly (the encoder alone is cheap, and every epoch then
sees fresh random windows).

Reading of a clip, the same as `predict` and the bitstream use (systems/inference.py): content from its first
`content_frames` frames, codes in windows of `window` frames.

Validation reports, in bits per frame of the held-out split:
- `val/nll_bits_per_frame`: the prior's negative log-likelihood, an achievable code length (the bitstream can use it);
- `val/entropy_bits_per_frame`: the empirical order-0 entropy sum_i H(histogram of group i), what per-group static
  tables spend (METHOD 5.2); the prior must go below it to have learnt temporal or cross-group structure;
- `val/capacity_bits_per_frame`: N log2 E, what a uniform model spends; and `val/nll_kbps` at the model's fps.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch import LightningModule

from motioncontent.models.prior import MotionPrior, PriorConfig
from motioncontent.models.rate import code_histogram, entropy_bits
from motioncontent.systems.inference import DEFAULT_CONTENT_FRAMES, DEFAULT_WINDOW, codes_of_clips, load_bcd, model_id
from motioncontent.systems.schedules import trainer_max_steps, warmup_cosine


class MotionPriorModule(LightningModule):
    """Args:
        bcd_checkpoint: the frozen BCD model whose codes are modelled (needed for training; inference passes None
            and gives the model itself). Its code sizes and weight hash (`bcd_id`) are stored in the checkpoint.
        dim, depth, heads, dropout: the transformer; max_frames: its context in frames (>= the data's clip length).
        window, content_frames: how a clip is read (see the module docstring).
        lr, weight_decay, warmup_steps: AdamW with a linear warm-up then cosine decay to 10% over max_steps.
        num_groups, codebook_size, content_tokens, content_dim, bcd_id, fps: filled in from the BCD checkpoint.
    """

    def __init__(self, bcd_checkpoint: str | None = None, dim: int = 192, depth: int = 4, heads: int = 4,
                 max_frames: int = 64, dropout: float = 0.0, window: int = DEFAULT_WINDOW,
                 content_frames: int = DEFAULT_CONTENT_FRAMES, lr: float = 1e-3, weight_decay: float = 0.01,
                 warmup_steps: int = 100, num_groups: int | None = None, codebook_size: int | None = None,
                 content_tokens: int | None = None, content_dim: int | None = None, bcd_id: str | None = None,
                 bcd_fps: float | None = None):
        super().__init__()
        self.save_hyperparameters()
        self._bcd: list[torch.nn.Module] = []  # in a list: not a submodule, so not in this checkpoint
        if bcd_checkpoint:
            bcd = load_bcd(bcd_checkpoint).requires_grad_(False)
            self._bcd.append(bcd)
            h = bcd.hparams
            self.hparams.update(num_groups=bcd.num_groups, codebook_size=int(bcd.quantizer.codebook_size),
                                content_tokens=h.num_content_queries, content_dim=h.content_dim, bcd_id=model_id(bcd),
                                bcd_fps=float(h.fps))
        if self.hparams.num_groups is None:
            raise ValueError("MotionPriorModule needs bcd_checkpoint (or the code sizes of a saved prior)")
        h = self.hparams
        self.prior = MotionPrior(PriorConfig(num_groups=h.num_groups, codebook_size=h.codebook_size,
                                             content_tokens=h.content_tokens, content_dim=h.content_dim,
                                             max_frames=max_frames, dim=dim, depth=depth, heads=heads, dropout=dropout))
        # Code counts seen in training: the per-group static tables the bitstream can use instead of the prior.
        self.register_buffer("train_code_counts", torch.zeros(h.num_groups, h.codebook_size, dtype=torch.float64))
        self._val_counts: torch.Tensor | None = None
        self._val_nll = [0.0, 0]

    @property
    def capacity_bits(self) -> float:
        return self.hparams.num_groups * math.log2(self.hparams.codebook_size)

    def static_tables(self) -> torch.Tensor:
        """(N, E) probabilities of each code per group in the training codes (add-1/2 smoothed)."""
        counts = self.train_code_counts + 0.5
        return counts / counts.sum(dim=-1, keepdim=True)

    def codes_of(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self._bcd:
            raise RuntimeError("this prior was loaded without its BCD model; pass codes, not video")
        bcd = self._bcd[0]
        if bcd.device != video.device:
            bcd.to(video.device)
        with torch.no_grad():
            return codes_of_clips(bcd, video, self.hparams.window, self.hparams.content_frames)

    def _frames_fit(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.shape[1] > self.hparams.max_frames:
            raise ValueError(f"clips of {codes.shape[1]} frames; the prior holds max_frames={self.hparams.max_frames}")
        return codes

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        content, codes = self.codes_of(batch[0])
        self.train_code_counts += code_histogram(codes, self.hparams.codebook_size).to(torch.float64)
        loss_bits = self.prior.nll_bits(content, self._frames_fit(codes))
        self.log("train/nll_bits_per_frame", loss_bits, prog_bar=True)
        return loss_bits * math.log(2) / self.hparams.num_groups  # nats per code: a loss scale independent of N

    def on_validation_epoch_start(self) -> None:
        self._val_counts, self._val_nll = None, [0.0, 0]

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        content, codes = self.codes_of(batch[0])
        frames = codes.shape[0] * codes.shape[1]
        self._val_nll[0] += float(self.prior.nll_bits(content, self._frames_fit(codes))) * frames
        self._val_nll[1] += frames
        counts = code_histogram(codes, self.hparams.codebook_size).double()
        self._val_counts = counts if self._val_counts is None else self._val_counts + counts

    def on_validation_epoch_end(self) -> None:
        if not self._val_nll[1] or self._val_counts is None:
            return
        nll = self._val_nll[0] / self._val_nll[1]
        p = self._val_counts / self._val_counts.sum(dim=-1, keepdim=True)
        figures = {"nll_bits_per_frame": nll, "entropy_bits_per_frame": float(entropy_bits(p).sum()),
                   "capacity_bits_per_frame": self.capacity_bits,
                   "nll_kbps": nll * (self.hparams.bcd_fps or 25.0) / 1000.0}
        for name, value in figures.items():
            self.log(f"val/{name}", value, prog_bar=name == "nll_bits_per_frame")

    def configure_optimizers(self) -> Any:
        decay = [p for n, p in self.prior.named_parameters() if p.ndim >= 2 and "emb" not in n and "pos" not in n]
        other = [p for n, p in self.prior.named_parameters() if not (p.ndim >= 2 and "emb" not in n and "pos" not in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.hparams.weight_decay},
                                       {"params": other, "weight_decay": 0.0}], lr=self.hparams.lr, betas=(0.9, 0.95))
        schedule = warmup_cosine(self.hparams.warmup_steps, trainer_max_steps(self), final_fraction=0.1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


__all__ = ["MotionPriorModule"]
