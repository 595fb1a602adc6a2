"""BCD training throughput at 128 px: the pixel codec against the frame autoencoder's latents (encoded on the fly,
and read from a latent cache), with the model block of configs/talking_heads_128.yaml.

    python benchmarks/latent_speed.py [--config configs/talking_heads_128.yaml] [--steps 10]

Rows: `pixel, unshuffle 4` is the 64 px config's pixel codec at 128 px (48 x 32 x 32 latents, 256 DiT tokens per
frame at patch 2); `pixel, unshuffle 8` folds 8 x 8 pixels (192 x 16 x 16, 64 tokens, as many as the latents);
`latent, on the fly` encodes every batch with the frozen codec inside the step; `latent, cached` feeds latents as a
latent cache does (the codec's encode passes them through). The codec has the architecture of
configs/autoencoder_talking_heads.yaml with random weights (speed does not depend on the weights), so no trained
checkpoint is needed. Random clips, fp32, batch and clip length of the config; prints a markdown table with clips
per second of wall time and per second of the process's CPU time (robust when other jobs share the machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from sprites_data import machine  # noqa: E402

from motioncontent.systems import BCDModule, FrameAutoencoderModule  # noqa: E402
from motioncontent.systems.autoencoder import CHECKPOINT_KEY  # noqa: E402
from motioncontent.models.autoencoder import autoencoder_checkpoint_entry  # noqa: E402


def random_codec_checkpoint(config_path: Path, directory: Path, size: int | None = None) -> Path:
    """A codec checkpoint with the config's architecture, random weights and a fitted scale; `size`: the frame side,
    when the config's data section does not set it."""
    module = FrameAutoencoderModule(**yaml.safe_load(open(config_path))["model"]["init_args"])
    size = size or yaml.safe_load(open(config_path))["data"]["init_args"]["image_size"]
    module.autoencoder.fit_latent_scale([torch.rand(8, 3, size, size) * 2 - 1])
    path = directory / "codec.ckpt"
    torch.save({"state_dict": module.state_dict(), CHECKPOINT_KEY: autoencoder_checkpoint_entry(module.config)}, path)
    return path


def train_clips_per_s(model: BCDModule, batch: torch.Tensor, steps: int) -> tuple[float, float]:
    """Training clips per second of wall time and per second of this process's CPU time (the second stays
    meaningful when other jobs share the cores; with one torch thread it is the single-core speed)."""
    optimizer = model.configure_optimizers()["optimizer"]
    model.train()

    def step() -> None:
        loss = model.losses(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocator, kernels
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    clips = batch.shape[0] * steps
    return clips / (time.perf_counter() - start), clips / (time.process_time() - cpu_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/talking_heads_128.yaml")
    parser.add_argument("--codec_config", default="configs/autoencoder_talking_heads.yaml")
    parser.add_argument("--pixel_config", default="configs/talking_heads.yaml", help="the pixel rows' DiT patch")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = yaml.safe_load(open(REPO / args.config))
    init = dict(config["model"]["init_args"])
    data = config["data"]["init_args"]
    b, t, size = data["batch_size"], data["num_frames"], init["image_size"]
    video = torch.rand(b, t, 3, size, size) * 2 - 1

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        codec_path = random_codec_checkpoint(REPO / args.codec_config, Path(tmp))
        pixel = {k: v for k, v in init.items() if k not in ("codec", "codec_checkpoint", "sigma_data", "p_mean")}
        # the pixel rows keep the 64 px pixel config's DiT patch, whatever patch the latent config needs
        pixel["patch_size"] = yaml.safe_load(open(REPO / args.pixel_config))["model"]["init_args"]["patch_size"]
        variants = [
            ("pixel, unshuffle 4", dict(pixel, codec="pixel", pixel_unshuffle=4), False),
            ("pixel, unshuffle 8", dict(pixel, codec="pixel", pixel_unshuffle=8), False),
            ("latent, on the fly", dict(init, codec_checkpoint=str(codec_path)), False),
            ("latent, cached", dict(init, codec_checkpoint=str(codec_path)), True),
        ]
        for name, kwargs, cached in variants:
            model = BCDModule(**kwargs)
            batch = model.codec.encode(video) if cached else video
            tokens = (model.codec.latent_size // kwargs["patch_size"]) ** 2
            shape = f"{model.codec.latent_channels} x {model.codec.latent_size} x {model.codec.latent_size}"
            rows.append((name, shape, tokens, *train_clips_per_s(model, batch, args.steps)))
            print(rows[-1], flush=True)

    base = rows[0][4]
    print(f"\nmachine: {machine()}")
    print(f"{args.config}: batch {b} x {t} frames at {size} px, {args.steps} timed steps after 1 warm-up, fp32\n")
    print("| codec | latents per frame | DiT tokens per frame | train clips/s (wall) | clips per CPU-second | "
          "vs pixel, unshuffle 4 (CPU time) |")
    print("|---|---|---|---|---|---|")
    for name, shape, tokens, wall, cpu in rows:
        print(f"| {name} | {shape} | {tokens} | {wall:.2f} | {cpu:.2f} | {cpu / base:.1f}x |")


if __name__ == "__main__":
    main()
