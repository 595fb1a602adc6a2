"""Pixel conventions: uint8 frames on disk, float in [-1, 1] inside the models."""

from __future__ import annotations

import torch


def uint8_to_signed(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (255 maps to exactly 1, so the map is invertible on every value)."""
    return frames.to(torch.float32).div_(127.5).sub_(1.0)


def signed_to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8, rounding to nearest and clipping what a model puts outside the range."""
    return frames.detach().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
