"""Frame codec quality on held-out frames: PSNR / SSIM of the codec alone, and of full BCD reconstruction beside it.

    python benchmarks/codec_quality.py --codec checkpoints/autoencoder_sprites.ckpt \
        --data_config configs/autoencoder_sprites.yaml [--judge checkpoints/judge_sprites.ckpt]
    python benchmarks/codec_quality.py --codec checkpoints/autoencoder_talking_heads_128.ckpt \
        --data_config configs/autoencoder_talking_heads.yaml --real ../shared/talking_heads [--bcd BCD.ckpt]

Held-out frames are the test split of the config's data module (test characters for Sprites, test identities for
talking heads: people the codec never saw). `--real` adds every frame of a folder of real videos, preprocessed at
the config's size with face crops (`crop: detect`; cached under data/talking_heads/<folder>_<size>): the codec
was trained on synthetic faces only, so these are unseen people and an unseen domain. `--bcd` reconstructs the
same clips with a BCD checkpoint (its own content and motion, its sampler) so the two stages can be compared.
`--judge` (Sprites) adds the judge's accuracy per head on the real clips and on the round trips: a codec that
blurs skin or trousers into another class caps every swap accuracy BCD can reach on its latents.
PSNR / SSIM are per frame in [0, 1] (SSIM: torchmetrics, Gaussian 11x11), averaged over frames.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from sprites_data import machine  # noqa: E402

from motioncontent.data.talking_heads.clips import ClipWindows  # noqa: E402
from motioncontent.errors import MotionContentError  # noqa: E402
from motioncontent.models.frame_codec import AutoencoderCodec  # noqa: E402
from motioncontent.systems.autoencoder import frame_quality  # noqa: E402


def datamodule_from_config(path: str, **overrides: Any) -> Any:
    data = yaml.safe_load(open(path))["data"]
    module, _, name = data["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**{**data.get("init_args", {}), **overrides})


def clips(loader: Iterable, max_clips: int) -> Iterable[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    seen = 0
    for video, labels in loader:
        video = video[: max_clips - seen]
        yield video, {name: value[: video.shape[0]] for name, value in labels.items()}
        seen += video.shape[0]
        if seen >= max_clips:
            return


def score(codec: AutoencoderCodec, loader: Iterable, max_clips: int, bcd: Any = None,
          judge: Any = None) -> dict[str, float]:
    """Mean per-frame PSNR / SSIM of codec round trips (and of BCD reconstructions) over up to max_clips clips;
    with a Sprites judge, also its accuracy per head on the real clips and on each reconstruction (per clip)."""
    totals: dict[str, float] = {}  # summed over frames
    correct: dict[str, float] = {}  # judge hits, summed over clips
    frames = clip_count = 0
    for video, labels in clips(loader, max_clips):
        n = video.shape[0] * video.shape[1]
        outputs = {"codec": codec.decode(codec.encode(video))}
        if bcd is not None:
            outputs["bcd"] = bcd.reconstruct(video)
        for name, output in outputs.items():
            psnr, ssim = frame_quality(output.flatten(0, 1), video.flatten(0, 1))
            totals[f"{name}_psnr"] = totals.get(f"{name}_psnr", 0.0) + float(psnr) * n
            totals[f"{name}_ssim"] = totals.get(f"{name}_ssim", 0.0) + float(ssim) * n
        if judge is not None:
            for name, clip_video in {"real": video, **outputs}.items():
                for head, logits in judge(clip_video).items():
                    hits = float((logits.argmax(1) == labels[head]).sum())
                    correct[f"{name}_judge_{head}"] = correct.get(f"{name}_judge_{head}", 0.0) + hits
        frames += n
        clip_count += video.shape[0]
    return {"frames": frames, "clips": clip_count, **{k: v / frames for k, v in totals.items()},
            **{k: v / clip_count for k, v in correct.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", required=True, help="a FrameAutoencoderModule checkpoint")
    parser.add_argument("--data_config", required=True, help="the config whose data section gives the held-out split")
    parser.add_argument("--real", help="a folder of real videos (e.g. ../shared/talking_heads)")
    parser.add_argument("--bcd", help="a BCD checkpoint that uses this codec")
    parser.add_argument("--judge", help="a Sprites judge (`make judge-sprites`): its accuracy per head on the codec's "
                        "round trips, i.e. whether the codec keeps what the Sprites benchmark reads")
    parser.add_argument("--max_clips", type=int, default=128)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    started = time.perf_counter()

    dm = datamodule_from_config(args.data_config)
    dm.prepare_data()
    dm.setup("test")
    image_size = dm.test_set[0][0].shape[-1]
    codec = AutoencoderCodec(args.codec, image_size)
    bcd = None
    if args.bcd:
        from motioncontent.systems import BCDModule

        bcd = BCDModule.load_from_checkpoint(args.bcd, map_location="cpu", weights_only=True).eval()
    judge = None
    if args.judge:
        from motioncontent.systems.judge import load_judge

        judge = load_judge(args.judge)
    rows = [(f"{type(dm).__name__} test split", score(codec, dm.test_dataloader(), args.max_clips, bcd, judge))]
    if args.real:
        from motioncontent.data import TalkingHeadDataModule

        real = TalkingHeadDataModule(source="folder", root=args.real, crop="detect", image_size=image_size,
                                     cache_dir=str(REPO / "data" / "talking_heads" / f"{Path(args.real).name}_{image_size}"),
                                     num_frames=dm.num_frames, val_fraction=0.0, test_fraction=0.0, batch_size=8)
        real.prepare_data()
        real.setup("fit")
        # Every whole window of every clip, fixed (the training set's windows are random).
        refs = real.train_set.clip_refs
        windows = ClipWindows(refs, real.num_frames, sorted({c.identity for c in refs}), random=False,
                              windows_per_clip=10_000)
        loader = torch.utils.data.DataLoader(windows, batch_size=8)
        rows.append((f"real clips ({args.real})", score(codec, loader, args.max_clips, bcd)))

    print(f"\nmachine: {machine()}; {time.perf_counter() - started:.0f} s in all")
    print(f"codec: {args.codec} ({image_size} px -> {codec.latent_channels} x {codec.latent_size} x {codec.latent_size})"
          + (f"; BCD: {args.bcd}" if args.bcd else "") + "\n")
    header = "| frames | count | codec PSNR (dB) | codec SSIM |" + (" BCD PSNR (dB) | BCD SSIM |" if bcd else "")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, r in rows:
        line = f"| {name} | {r['frames']} | {r['codec_psnr']:.2f} | {r['codec_ssim']:.4f} |"
        if bcd:
            line += f" {r['bcd_psnr']:.2f} | {r['bcd_ssim']:.4f} |"
        print(line)
    if judge is not None:
        test = rows[0][1]
        heads = sorted({k.split("_judge_")[1] for k in test if "_judge_" in k})
        print(f"\njudge {args.judge}: accuracy per head on {test['clips']} test clips\n")
        print("| clips | " + " | ".join(heads) + " |")
        print("|" + "---|" * (len(heads) + 1))
        for name in ("real", "codec", "bcd"):
            if f"{name}_judge_{heads[0]}" in test:
                print(f"| {name} | " + " | ".join(f"{100 * test[f'{name}_judge_{h}']:.1f}%" for h in heads) + " |")


if __name__ == "__main__":
    try:
        main()
    except MotionContentError as error:
        raise SystemExit(f"codec_quality: error: {error}") from None
