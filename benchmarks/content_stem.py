"""The colour-set content stem (`content_stem_pool: max`): its maximum over pixels taken by `max_over_pixels` against
a max pool after the per-pixel MLP, alone and inside a training step of the pixel-content preset stack.

    python benchmarks/content_stem.py [--frames 128] [--widths 16 32 64] [--steps 3]

Stem rows: forward and backward of the stem (with heights, as `configs/presets/pixel_content.yaml`) on --frames
64 x 64 frames, 128 being the content segments of a 32-clip batch. Step rows: forward and backward of BCDModule.losses
on a random batch of the stack sprites.yaml + colour_content + sprites_latents + pixel_content at each width (the
contrastive term runs the stem twice a step), with a random codec of configs/autoencoder_sprites.yaml's architecture
(speed does not depend on the weights). fp32; prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from latent_speed import random_codec_checkpoint  # noqa: E402
from stacked_configs import merged_section, model_args  # noqa: E402
from sprites_data import machine  # noqa: E402

from motioncontent.models.encoder import ConvStem  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402

STACK = ["configs/sprites.yaml", "configs/presets/colour_content.yaml", "configs/presets/sprites_latents.yaml",
         "configs/presets/pixel_content.yaml"]


def pooled_forward(stem: ConvStem, x: torch.Tensor) -> torch.Tensor:
    """The stem with nn.AdaptiveMaxPool2d after the per-pixel MLP: what max_over_pixels replaces."""
    if stem.pixel_mlp_start is None:  # a layout stem (the motion encoder's): nothing to replace
        return stem.proj(stem.convs(x))
    return stem.proj(nn.functional.adaptive_max_pool2d(stem.convs(x), 1).flatten(1))


def seconds(fn, steps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"machine: {machine()}\n")
    print("| what | width | max pool after the MLP (ms) | max_over_pixels (ms) |\n|---|---|---|---|")
    frames = torch.rand(args.frames, 48, 16, 16) * 2 - 1  # pixel-unshuffled 64 x 64 frames, as the stem reads them
    for width in args.widths:
        stem = ConvStem(48, 16, 192, channels=width, pool="max", cell_size=4, with_height=True)
        ours = seconds(lambda: stem(frames).sum().backward(), args.steps)
        pooled = seconds(lambda: pooled_forward(stem, frames).sum().backward(), args.steps)
        print(f"| stem, {args.frames} frames, forward + backward | {width} | {1e3 * pooled:.0f} | {1e3 * ours:.0f} |")

    stack_args = model_args(STACK)
    batch = merged_section(STACK, "data")["batch_size"]
    video = torch.rand(batch, 8, 3, 64, 64) * 2 - 1
    ours_forward = ConvStem.forward
    with tempfile.TemporaryDirectory() as tmp:
        codec = random_codec_checkpoint(REPO / "configs/autoencoder_sprites.yaml", Path(tmp), size=64)
        for width in args.widths:
            model = BCDModule(**{**stack_args, "codec_checkpoint": str(codec), "content_stem_width": width})
            model.train()
            times = {}
            for name, forward in (("ours", ours_forward), ("pooled", pooled_forward)):
                ConvStem.forward = forward  # every stem of the model; only the content encoder's pools
                try:
                    times[name] = seconds(lambda: model.losses(video, sync=False)["loss"].backward(), args.steps)
                finally:
                    ConvStem.forward = ours_forward
            print(f"| training losses, {batch} clips, forward + backward | {width} | {1e3 * times['pooled']:.0f} | "
                  f"{1e3 * times['ours']:.0f} |")


if __name__ == "__main__":
    main()
