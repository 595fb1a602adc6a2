"""BCD speed: training clips/s and sampling frames/s (1, 8, 32 sampler steps) for the Sprites configs.

    python benchmarks/bcd_speed.py [--configs configs/sprites.yaml configs/sprites_large.yaml] [--device cpu]

Uses each config's model and batch size on random clips (speed does not depend on the pixels), the config's
precision on GPU and fp32 on CPU, and prints a markdown table with the machine.
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml

from motioncontent.systems import BCDModule

try:
    from sprites_data import machine
except ImportError:  # run from elsewhere
    from benchmarks.sprites_data import machine


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_clips_per_s(model: BCDModule, batch: int, frames: int, device: torch.device, steps: int,
                      dtype: torch.dtype | None) -> float:
    optimizer = model.configure_optimizers()["optimizer"]
    video = torch.rand(batch, frames, model.hparams.channels, model.hparams.image_size, model.hparams.image_size,
                       device=device) * 2 - 1

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model.losses(video)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocator, kernels
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def sample_frames_per_s(model: BCDModule, clips: int, frames: int, device: torch.device, sampler_steps: int,
                        dtype: torch.dtype | None) -> float:
    video = torch.rand(clips, frames, model.hparams.channels, model.hparams.image_size, model.hparams.image_size,
                       device=device) * 2 - 1
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        content, codes = model.encode(video)
        model.decode(content, codes, steps=1)  # warm-up
        sync(device)
        start = time.perf_counter()
        model.decode(content, codes, steps=sampler_steps)
        sync(device)
    return clips * frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["configs/sprites.yaml", "configs/sprites_large.yaml"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--train_steps", type=int, default=10)
    parser.add_argument("--sample_clips", type=int, default=8)
    args = parser.parse_args()
    device = torch.device(args.device)

    rows = []
    for path in args.configs:
        config = yaml.safe_load(open(path))
        model = BCDModule(**config["model"]["init_args"]).to(device)
        batch = config["data"]["init_args"]["batch_size"]
        precision = str(config["trainer"].get("precision", "32-true"))
        dtype = torch.bfloat16 if device.type == "cuda" and "bf16" in precision else None
        params = sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6  # the EMA copy excluded
        steps = args.train_steps if params < 20 else max(2, args.train_steps // 5)
        train = train_clips_per_s(model, batch, 8, device, steps, dtype)
        sampling = [sample_frames_per_s(model, args.sample_clips, 8, device, n, dtype) for n in (1, 8, 32)]
        rows.append((path, f"{params:.1f}", batch, "bf16-mixed" if dtype else "fp32", train, *sampling))

    print(f"\nmachine: {machine() if device.type == 'cpu' else torch.cuda.get_device_name(device)}")
    print(f"training: {args.train_steps} steps of batch x 8 frames; sampling: {args.sample_clips} clips x 8 frames, "
          "Heun (2n-1 network calls for n steps)\n")
    print("| config | params (M) | batch | precision | train clips/s | sample frames/s, 1 step | 8 steps | 32 steps |")
    print("|---|---|---|---|---|---|---|---|")
    for path, params, batch, precision, train, s1, s8, s32 in rows:
        print(f"| {path} | {params} | {batch} | {precision} | {train:.1f} | {s1:.1f} | {s8:.1f} | {s32:.2f} |")


if __name__ == "__main__":
    main()
