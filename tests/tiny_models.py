"""Tiny untrained checkpoints for the predict, prior and codec tests (seconds to build, no training); clips to fit."""

from __future__ import annotations

from pathlib import Path

import lightning
import torch

TINY_BCD = dict(image_size=32, channels=3, fps=25.0, max_frames=32, encoder_dim=32, encoder_depth=1, encoder_heads=2,
                num_content_queries=2, content_dim=16, motion_dim=8, num_groups=2, codebook_size=4,
                denoiser_dim=32, denoiser_depth=1, denoiser_heads=2, sampler="euler", sample_steps=2, ema_decay=0.0)


def save_module(module: torch.nn.Module, path: Path) -> Path:
    """A checkpoint that `load_from_checkpoint` reads, as Lightning writes one (weights + hyperparameters)."""
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    return path


def tiny_video_loader(clips: int = 8, frames: int = 4) -> torch.utils.data.DataLoader:
    """Random 32 px clips in [-1, 1] with dummy labels, batches of 2, for in-process fits of TINY_BCD."""
    generator = torch.Generator().manual_seed(0)
    video = torch.rand(clips, frames, 3, 32, 32, generator=generator) * 2 - 1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(video, torch.zeros(clips)), batch_size=2)


def tiny_bcd(path: Path, seed: int = 0) -> Path:
    from motioncontent.systems import BCDModule

    torch.manual_seed(seed)
    return save_module(BCDModule(**TINY_BCD), path)


def tiny_prior(path: Path, bcd_path: Path) -> Path:
    from motioncontent.systems import MotionPriorModule

    torch.manual_seed(0)
    prior = MotionPriorModule(bcd_checkpoint=str(bcd_path), dim=32, depth=1, heads=2, max_frames=32, window=8,
                              content_frames=4)
    return save_module(prior, path)
