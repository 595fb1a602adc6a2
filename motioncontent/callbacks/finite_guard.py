"""StopOnNonFinite: end training at the first NaN or infinite gradient, before it reaches the weights.

Lightning has no such switch (`detect_anomaly` only locates the operation, at a large cost; EarlyStopping's
check_finite looks at a validation metric, long after the weights are ruined). Gradients are checked in
on_before_optimizer_step: under DDP they are already all-reduced there, so every rank sees the same verdict and
stops together. The optimizer step is not taken, and the exception ends the run without writing a checkpoint,
so the newest checkpoint on disk is the last good one.
"""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from motioncontent.errors import MotionContentError


class NonFiniteError(MotionContentError):
    """Training produced a NaN or infinite gradient."""


class StopOnNonFinite(Callback):
    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if not grads or torch.isfinite(torch.stack([g.float().abs().sum() for g in grads]).sum()):
            return
        bad = [name for name, p in pl_module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        optimizer.zero_grad(set_to_none=True)
        newest = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
        raise NonFiniteError(
            f"non-finite gradient at step {trainer.global_step} in {len(bad)} parameter(s) ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}); training stopped before the update; last good checkpoint: {newest}"
        )
