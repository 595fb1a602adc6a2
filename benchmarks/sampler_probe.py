"""Which sampler settings rebuild sprites best from an imperfect denoiser: a memorisation probe.

    python benchmarks/sampler_probe.py [--steps 1500] [--lpc_root ../shared/lpc_assets]

The DiT of configs/sprites.yaml (2 blocks here, for time) learns to rebuild 32 real LPC frames (4 clips x 8) from a
one-hot code per frame, with the config's EDM noise distribution; then each frame is sampled from pure noise
with Euler and Heun at several step counts, and its PSNR against the true frame is printed as a table, next to
the denoiser's one-step estimate D(x; sigma) at fixed sigma. Since the true conditional is a single frame, every
sampler would give the same result with a perfect denoiser; the differences show how each one handles errors.
"""

from __future__ import annotations

import argparse
import time

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from motioncontent.data import SpritesDataModule
from motioncontent.diffusion.edm import EDM, edm_denoiser
from motioncontent.diffusion.samplers import SAMPLERS, initial_noise
from motioncontent.models.dit import DiTDenoiser
from motioncontent.models.frame_codec import PixelCodec

try:
    from sprites_data import machine
except ImportError:  # run from elsewhere
    from benchmarks.sprites_data import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--lpc_root", default=None, help="LPC art (default $SPRITES_LPC or an existing LPC cache)")
    parser.add_argument("--data_dir", default="data")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = SpritesDataModule(source="lpc", lpc_root=args.lpc_root, data_dir=args.data_dir)
    data.prepare_data()
    data.setup("fit")
    video = torch.stack([data.train_set[i][0] for i in (0, 9, 18, 27)])  # 4 characters, 4 motions
    codec = PixelCodec(3, 64, unshuffle=4, shift=-0.8)
    target = codec.encode(video).flatten(0, 1)[:, None]  # (32, 1, 48, 16, 16): each frame a one-frame clip
    n = target.shape[0]
    motion, content = torch.eye(n)[:, None], torch.zeros(n, 4, 16)
    net = DiTDenoiser(48, 16, patch_size=2, dim=192, depth=2, heads=4, motion_dim=n, content_dim=16)
    edm = EDM(p_mean=0.5, p_std=1.4)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, betas=(0.9, 0.99))
    started = time.time()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = 2e-3 * min(1.0, (step + 1) / 20)
        rows = torch.randint(0, n, (16,))
        loss = edm.training_loss(net, target[rows], motion=motion[rows], content=content[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.time() - started

    def psnr(latents: torch.Tensor) -> float:
        frames = (codec.decode(latents).clamp(-1, 1) + 1) / 2
        return peak_signal_noise_ratio(frames, (codec.decode(target) + 1) / 2, data_range=1.0).item()

    net.eval()
    denoiser = edm_denoiser(edm, net, motion=motion, content=content)
    noise = initial_noise(target.shape, edm.sigma_max, seed=0)
    print(f"{machine()}; {args.steps} training steps in {seconds:.0f} s, final loss {loss.item():.3f}\n")
    print("| sampler | " + " | ".join(f"{k} steps" for k in (1, 2, 4, 8, 18, 40)) + " |")
    print("|---" * 7 + "|")
    with torch.no_grad():
        for name, sampler in SAMPLERS.items():
            cells = [f"{psnr(sampler(denoiser, noise, edm.sigmas(k))):.1f}" for k in (1, 2, 4, 8, 18, 40)]
            print(f"| {name} | " + " | ".join(cells) + " |")
        generator = torch.Generator().manual_seed(1)
        levels = (80.0, 10.0, 3.0, 1.0, 0.3, 0.05)
        estimates = [psnr(denoiser(target + s * torch.randn(target.shape, generator=generator), torch.tensor(s)))
                     for s in levels]
    print("\n| one-step D(x; sigma) at sigma | " + " | ".join(f"{s:g}" for s in levels) + " |")
    print("|---" * (len(levels) + 1) + "|")
    print("| PSNR (dB) | " + " | ".join(f"{v:.1f}" for v in estimates) + " |")


if __name__ == "__main__":
    main()
