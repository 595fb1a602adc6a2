"""benchmarks/codec_quality.py: PSNR over frames and, with a Sprites judge, accuracy per head over clips, for the
real clips and the codec's round trips, stopping at max_clips."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import codec_quality  # noqa: E402


class DarkeningCodec:
    """Round trip = the frames at 0.9 of their distance from -1 (black); latents are the frames themselves."""

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        return video

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents + 1) * 0.9 - 1


class BrightnessJudge:
    """Head `hair`: class 1 for clips brighter than 0.5 in [-1, 1] on average, else class 0."""

    def __call__(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        bright = (video.mean(dim=(1, 2, 3, 4)) > 0.5).long()
        return {"hair": torch.nn.functional.one_hot(bright, 2).float()}


def test_codec_psnr_per_frame_and_judge_accuracy_per_clip() -> None:
    # Six clips of 2 frames, two per batch: four bright (0.6 -> 0.44 after the codec, read as dark), two dark (-0.5).
    levels = torch.tensor([0.6, 0.6, 0.6, 0.6, -0.5, -0.5])
    video = levels.view(6, 1, 1, 1, 1).expand(6, 2, 3, 16, 16).clone()
    labels = torch.tensor([1, 1, 1, 1, 0, 0])
    loader = [(video[i:i + 2], {"hair": labels[i:i + 2]}) for i in range(0, 6, 2)]

    result = codec_quality.score(DarkeningCodec(), loader, max_clips=5, judge=BrightnessJudge())

    assert (result["frames"], result["clips"]) == (10, 5)  # max_clips stops inside the third batch
    errors = 0.1 * (levels[:5] + 1) / 2  # in [0, 1]
    assert result["codec_psnr"] == pytest.approx(float((-10 * torch.log10(errors.square())).mean()), abs=1e-3)
    assert result["real_judge_hair"] == pytest.approx(1.0)
    assert result["codec_judge_hair"] == pytest.approx(1 / 5)  # only the dark clip kept its class
