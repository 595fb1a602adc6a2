"""MotionPredictor: the LightningModule `motioncontent predict` runs. It wraps a trained BCD checkpoint (and, for
`generate`, a motion prior) and turns each window the PredictDataModule streams into frames, which the
callbacks.PredictionVideoWriter appends to the job's mp4.

Per job it keeps only the content (read on the first window) and, for generate, the last frames of motion codes the
prior continues from; windows are decoded with seed `seed + window index` (systems/inference.py).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch import LightningModule

from motioncontent.data.transforms import uint8_to_signed
from motioncontent.errors import MotionContentError
from motioncontent.systems.inference import (DEFAULT_CONTENT_FRAMES, DEFAULT_WINDOW, decode_window, load_bcd,
                                             load_prior, model_id, set_sampling)


def _video(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> (1, T, 3, H, W) in [-1, 1]."""
    return uint8_to_signed(frames.permute(0, 3, 1, 2)).unsqueeze(0)


class MotionPredictor(LightningModule):
    """Args:
        bcd_checkpoint: the trained BCD model (`motioncontent fit` writes logs/<run>/version_<n>/checkpoints/last.ckpt).
        prior_checkpoint: the motion prior (`generate` needs it); it must have been trained on this BCD model.
        steps, sampler, guidance, guidance_interval: sampler steps and kind, content guidance weight and the (lo, hi]
            sigma interval it applies in (default: the model's own).
        seed: sampler noise seed (window w uses seed + w) and the prior's sampling seed.
        temperature, top_k: the prior's sampling (top_k None: the whole codebook).
    """

    def __init__(self, bcd_checkpoint: str, prior_checkpoint: str | None = None, steps: int | None = None,
                 sampler: Literal["euler", "heun"] | None = None, seed: int = 0, temperature: float = 1.0,
                 top_k: int | None = None, guidance: float | None = None,
                 guidance_interval: tuple[float, float] | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.bcd = load_bcd(bcd_checkpoint).requires_grad_(False)
        set_sampling(self.bcd, sampler, guidance, guidance_interval)
        self.prior = load_prior(prior_checkpoint, self.bcd).requires_grad_(False) if prior_checkpoint else None
        self.bcd_id = model_id(self.bcd)
        self._jobs: dict[int, dict[str, Any]] = {}

    # What the PredictDataModule reads at setup.
    @property
    def image_size(self) -> int:
        return int(self.bcd.hparams.image_size)

    @property
    def fps(self) -> float:
        return float(self.bcd.hparams.fps)

    @property
    def window(self) -> int:
        return int(self.prior.hparams.window) if self.prior is not None else DEFAULT_WINDOW

    @property
    def content_frames(self) -> int:
        return int(self.prior.hparams.content_frames) if self.prior is not None else DEFAULT_CONTENT_FRAMES

    def on_predict_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if getattr(datamodule, "mode", None) == "generate" and self.prior is None:
            raise MotionContentError("generate samples motion from a prior: set model.prior_checkpoint "
                                     "(train one with `motioncontent fit --config configs/prior_talking_heads.yaml`)")

    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> dict[str, Any]:
        job, index = batch["job"], batch["window"]
        if index == 0:
            content, _ = self.bcd.encode(_video(batch["content"]))
            state: dict[str, Any] = {"content": content, "context": torch.zeros(1, 0, self.bcd.num_groups,
                                                                                dtype=torch.long, device=self.device)}
            if "prompt" in batch:  # generate: real motion the prior continues
                _, state["context"] = self.bcd.encode(_video(batch["prompt"]))
            state["generator"] = torch.Generator(device=self.device).manual_seed(self.hparams.seed)
            self._jobs[job] = state
        state = self._jobs[job]
        if batch["mode"] == "generate":
            codes = self.prior.prior.generate(state["content"], int(batch["frames"]), prompt=state["context"],
                                              temperature=self.hparams.temperature, top_k=self.hparams.top_k,
                                              generator=state["generator"])  # (1, T_w, N)
            keep = self.prior.hparams.max_frames - 1
            state["context"] = torch.cat([state["context"], codes], dim=1)[:, -keep:]
            codes = codes[0]
        else:
            _, codes = self.bcd.encode(_video(batch["driving"]))
            codes = codes[0]
        frames = decode_window(self.bcd, state["content"], codes, index, steps=self.hparams.steps,
                               seed=self.hparams.seed)
        if batch["last"]:
            del self._jobs[job]
        return {"frames": frames, "codes": codes.cpu()}


__all__ = ["MotionPredictor"]
