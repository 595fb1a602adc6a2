"""Training-step efficiency of BCD: step time, clips/s, peak memory and MFU, with and without bf16-mixed and
torch.compile of the denoiser, for the large Sprites and the 128 px talking-head configs.

    python benchmarks/train_efficiency.py [--configs ...] [--device cuda] [--steps 20] [--peak_tflops X] [--profile]
    make bench-efficiency ARGS="..."

MFU = model FLOPs of one training step / step time / the device's peak FLOP/s. The FLOPs are counted once per
config from the shapes of every matmul, convolution and attention call of a forward and backward pass
(torch.utils.flop_counter.FlopCounterMode; attention through SDPA's math path, which it can count on any device),
with a batch of 2 clips scaled to the config's batch (every op is per clip); the same FLOPs stand for every
precision. The denoiser's share of the forward FLOPs is counted too (the efficiency goal is about the denoiser
step), and `dit_forward_flops` writes the denoiser's out by hand as a check. Device peaks are the dense figures of
NVIDIA's datasheets (bf16 tensor cores for bf16-mixed, plain fp32 for 32-true, i.e. without TF32); `--peak_tflops`
for other devices. On a CPU the peak is measured: the best of a few 2048^3 fp32 matmuls. The talking-head config
is fed latents as its latent cache does (the codec has random weights, as in benchmarks/latent_speed.py; speed
does not depend on them).
Peak memory: torch.cuda.max_memory_allocated on a GPU; the process's maximum RSS on a CPU (monotone over the run).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bcd_speed import sync  # noqa: E402
from latent_speed import random_codec_checkpoint  # noqa: E402
from sprites_data import machine  # noqa: E402

from motioncontent.data.sprites.factors import NUM_FRAMES as SPRITE_FRAMES  # noqa: E402
from motioncontent.models.dit import DiTDenoiser  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402

# Dense peak TFLOP/s (no sparsity) by precision, matched against torch.cuda.get_device_name.
GPU_PEAK_TFLOPS = {
    "H100 PCIe": {"bf16": 756.0, "fp32": 51.2},
    "H100": {"bf16": 989.4, "fp32": 66.9},  # SXM
    "H200": {"bf16": 989.4, "fp32": 66.9},
    "A100": {"bf16": 312.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "fp32": 30.3},
}


def dit_forward_flops(dit: DiTDenoiser, sequences: int, content_tokens: int, clips: int) -> float:
    """Matmul FLOPs of one forward pass of `dit` over `sequences` frames of `clips` clips, by hand, as a check of
    the counted figure (norms, activations and the softmax are left out, as FlopCounterMode and MFU conventions
    do; a training step's backward costs about twice its forward)."""
    d, p, c, patch = dit.dim, dit.grid_size ** 2, dit.in_channels, dit.patch_size
    length = content_tokens + p
    hidden = dit.blocks[0].mlp.fc1.out_features
    block = (2 * length * d * 3 * d + 4 * length * length * d + 2 * length * d * d + 4 * length * d * hidden
             + 2 * d * 6 * d)  # qkv, scores and values, projection, MLP, adaLN
    if dit.temporal:
        frames = sequences // clips
        block += length * (2 * frames * d * 3 * d + 4 * frames * frames * d + 2 * frames * d * d) / frames
    per_sequence = (dit.depth * block
                    + 2 * p * patch * patch * c * d  # patch embedding
                    + 2 * d * 2 * d + 2 * p * d * patch * patch * c  # final adaLN and linear
                    + 2 * (dit.t_embedder.frequency_embedding_size * d + d * d)  # noise level embedding
                    + 2 * (dit.motion_mlp[0].in_features * d + d * d))  # motion embedding
    content_dim = dit.content_proj.in_features
    per_clip = 2 * (content_dim * d + d * d) + 2 * content_tokens * content_dim * d  # pooled mlp, token projection
    return sequences * per_sequence + clips * per_clip


def model_flops(model: BCDModule, batch: torch.Tensor) -> tuple[float, float, float]:
    """(training step, denoiser forward, whole forward) FLOPs on `batch`, counted op by op: the step's forward and
    backward together, and the denoiser's part of a forward alone (FlopCounterMode attributes forward ops to modules
    reliably, backward ops not)."""
    model.train()
    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as step:
            model.losses(batch)["loss"].backward()
        model.zero_grad(set_to_none=True)
        with torch.no_grad(), FlopCounterMode(display=False) as forward:
            model.losses(batch)
    denoiser = forward.get_flop_counts().get(type(model.denoiser).__name__, {})
    return float(step.get_total_flops()), float(sum(denoiser.values())), float(forward.get_total_flops())


def peak_flops(device: torch.device, precision: str, override_tflops: float | None) -> tuple[float, str]:
    """The device's peak FLOP/s for `precision` and where the figure comes from."""
    if override_tflops:
        return override_tflops * 1e12, "--peak_tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        kind = "bf16" if "bf16" in precision else "fp32"
        for key, peaks in GPU_PEAK_TFLOPS.items():
            if key in name:
                return peaks[kind] * 1e12, f"{key} datasheet, dense {kind}"
        raise SystemExit(f"train_efficiency: error: no peak known for {name}; give --peak_tflops")
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048 ** 3 / best, "measured 2048^3 fp32 matmul"


def time_steps(model: BCDModule, batch: torch.Tensor, steps: int, bf16: bool, profile: bool = False) -> float:
    """Seconds per training step (forward, backward, Adam) after two warm-up steps (compilation, allocator)."""
    device = batch.device
    optimizer = model.configure_optimizers()["optimizer"]
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.losses(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    profiler = torch.profiler.profile(record_shapes=False) if profile else nullcontext()
    with profiler:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        seconds = (time.perf_counter() - start) / steps
    if profile:
        sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(profiler.key_averages().table(sort_by=sort, row_limit=15), flush=True)
    return seconds


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def build(config_path: Path, device: torch.device, codec_dir: Path, batch_size: int | None,
          compile_denoiser: bool) -> tuple[BCDModule, torch.Tensor]:
    """The config's model on `device` and a random batch as its training step receives it (latents for a latent
    codec, as the latent cache gives them)."""
    config = yaml.safe_load(open(config_path))
    init = dict(config["model"]["init_args"], compile_denoiser=compile_denoiser)
    data = config["data"]["init_args"]
    if init.get("codec") == "autoencoder":
        init["codec_checkpoint"] = str(random_codec_checkpoint(REPO / "configs/autoencoder_talking_heads.yaml",
                                                               codec_dir))
    torch.manual_seed(0)
    model = BCDModule(**init).to(device)
    # Sprites clips have a fixed length; the talking-head configs set theirs
    b, t, size = batch_size or data["batch_size"], data.get("num_frames", SPRITE_FRAMES), init["image_size"]
    video = torch.rand(b, t, init.get("channels", 3), size, size, device=device) * 2 - 1
    batch = model.codec.encode(video) if init.get("codec") == "autoencoder" else video
    return model, batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+",
                        default=["configs/sprites_large.yaml", "configs/talking_heads_128.yaml"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--batch_size", type=int, default=None, help="override the configs' batch (e.g. on a CPU)")
    parser.add_argument("--precisions", nargs="+", default=None,
                        help="32-true and/or bf16-mixed (default: both on a GPU, 32-true on a CPU)")
    parser.add_argument("--compile", choices=["off", "on", "both"], default=None,
                        help="torch.compile the denoiser (default: both on a GPU, off on a CPU: minutes to compile)")
    parser.add_argument("--peak_tflops", type=float, default=None, help="the device's peak, for devices not listed")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top ops for every row")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    precisions = args.precisions or (["32-true", "bf16-mixed"] if gpu else ["32-true"])
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile or ("both" if gpu else "off")]
    # once per precision, not per row: a CPU's peak is a timed matmul
    peaks = {precision: peak_flops(device, precision, args.peak_tflops) for precision in precisions}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.configs:
            model, batch = build(REPO / path, device, Path(tmp), args.batch_size, compile_denoiser=False)
            total, denoiser, forward = (flops * batch.shape[0] / 2 for flops in model_flops(model, batch[:2]))
            for compiled in compiles:
                if compiled:
                    model, batch = build(REPO / path, device, Path(tmp), args.batch_size, compile_denoiser=True)
                for precision in precisions:
                    seconds = time_steps(model, batch, args.steps, "bf16" in precision, args.profile)
                    peak, source = peaks[precision]
                    rows.append((path, batch.shape[0], precision, "on" if compiled else "off", seconds * 1e3,
                                 batch.shape[0] / seconds, peak_memory_gib(device), total / 1e9,
                                 100 * denoiser / forward, 100 * total / seconds / peak, peak / 1e12, source))
                    print(rows[-1], flush=True)

    print(f"\nmachine: {torch.cuda.get_device_name(device) if gpu else machine()}")
    print(f"{args.steps} timed steps per row after 2 warm-up steps; random clips; FLOPs counted per step "
          "(forward + backward)\n")
    print("| config | batch | precision | compile | step (ms) | clips/s | peak memory (GiB) | GFLOP/step | "
          "denoiser share | MFU | peak TFLOP/s (source) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path, b, precision, compiled, ms, clips, mem, gflop, share, mfu, peak, source in rows:
        print(f"| {path} | {b} | {precision} | {compiled} | {ms:.1f} | {clips:.1f} | {mem:.2f} | {gflop:.1f} | "
              f"{share:.0f}% | {mfu:.1f}% | {peak:.2f} ({source}) |")


if __name__ == "__main__":
    main()
