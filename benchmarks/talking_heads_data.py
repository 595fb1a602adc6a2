"""Talking-head data speed: preprocessing frames/s with and without face detection, synthetic rendering, and
DataLoader clips/s.

    python benchmarks/talking_heads_data.py [--src ../shared/talking_heads] [--sizes 64 256] [--workers 1]
                                            [--batches 100] [--synthetic_identities 50]

Preprocesses --src into temporary folders (deleted afterwards) with `--crop none` and `--crop detect`, renders a
small synthetic set, times the training loaders of both, and prints markdown tables with the machine. Output
frames/s counts frames written at 25 fps (a 30 fps source gives 25 per second of video).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from sprites_data import machine  # noqa: E402

from motioncontent.data import TalkingHeadDataModule  # noqa: E402
from motioncontent.data.talking_heads.preprocess import PreprocessSettings, preprocess  # noqa: E402


def loader_throughput(dm: TalkingHeadDataModule, num_workers: int, batches: int) -> float:
    """Clips per second out of one training DataLoader (its workers persist across epochs; small sets take
    several epochs), after one warm-up batch that pays the worker start-up."""
    dm.num_workers = num_workers
    loader = dm.train_dataloader()
    start, clips, warm = time.perf_counter(), 0, False
    while clips < batches * dm.batch_size:
        for video, _ in loader:
            if not warm:
                warm, start = True, time.perf_counter()
                continue
            clips += len(video)
            if clips >= batches * dm.batch_size:
                break
    return clips / (time.perf_counter() - start)


def bench_preprocess(src: str, crop: str, size: int, workers: int, tmp: Path) -> dict[str, float]:
    dst = tmp / f"{crop}-{size}"
    start = time.perf_counter()
    result = preprocess(src, dst, PreprocessSettings(crop=crop, size=size), workers=workers, progress=False)
    seconds = time.perf_counter() - start
    frames = result.manifest["counts"]["frames"]
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds, "dst": str(dst)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(REPO.parent / "shared" / "talking_heads"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--crops", nargs="+", default=["none", "detect"])
    parser.add_argument("--workers", type=int, default=1, help="preprocessing processes")
    parser.add_argument("--batches", type=int, default=100, help="batches of 16 clips timed per loader")
    parser.add_argument("--loader_workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--synthetic_identities", type=int, default=50, help="x 4 clips x 32 frames")
    args = parser.parse_args()
    torch.set_num_threads(1)

    tmp = Path(tempfile.mkdtemp(prefix="bench-talking-heads-"))
    try:
        rows = [(crop, size, bench_preprocess(args.src, crop, size, args.workers, tmp))
                for size in args.sizes for crop in args.crops]
        start = time.perf_counter()
        synthetic = TalkingHeadDataModule(data_dir=str(tmp), num_identities=args.synthetic_identities,
                                          batch_size=16, val_fraction=0.1, test_fraction=0.1)
        synthetic.prepare_data()
        render_s = time.perf_counter() - start
        synthetic.setup("fit")
        loaders = {"synthetic 64 px": synthetic}
        for crop, size, row in rows:
            if crop == args.crops[0]:
                dm = TalkingHeadDataModule(source="folder", cache_dir=row["dst"], image_size=size, batch_size=16,
                                           val_fraction=0.2, test_fraction=0.2)
                dm.prepare_data()
                dm.setup("fit")
                loaders[f"sample clips {size} px"] = dm
        speeds = {name: [loader_throughput(dm, n, args.batches) for n in args.loader_workers]
                  for name, dm in loaders.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nmachine: {machine()}; preprocessing with {args.workers} worker process(es)")
    print("note: other jobs may share this CPU; compare timings taken on one machine at one time only")
    print(f"source: {args.src}\n")
    print("| crop | size | frames out | seconds | frames/s |")
    print("|---|---|---|---|---|")
    for crop, size, row in rows:
        print(f"| {crop} | {size} | {row['frames']} | {row['seconds']:.1f} | {row['fps']:.0f} |")
    n_synth = args.synthetic_identities * 4 * 32
    print(f"| synthetic render | 64 | {n_synth} | {render_s:.1f} | {n_synth / render_s:.0f} |")
    print(f"\nDataLoader, batches of 16 windows of 16 frames, {args.batches} batches timed\n")
    print("| data | " + " | ".join(f"clips/s, {n} workers" for n in args.loader_workers) + " |")
    print("|---|" + "---|" * len(args.loader_workers))
    for name, values in speeds.items():
        print(f"| {name} | " + " | ".join(f"{v:.0f}" for v in values) + " |")


if __name__ == "__main__":
    main()
