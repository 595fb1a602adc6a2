"""Sprites data speed: cache build time, cache load time and DataLoader throughput, per source.

    python benchmarks/sprites_data.py [--sources lpc procedural] [--lpc_root ../shared/lpc_assets] [--batches 200]

Builds each source into a temporary folder (deleted afterwards), then prints a markdown table with the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from motioncontent.data import SpritesDataModule

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def loader_throughput(dm: SpritesDataModule, num_workers: int, batches: int) -> float:
    """Clips per second out of the training DataLoader (after one warm-up batch)."""
    dm.num_workers = num_workers
    loader = iter(dm.train_dataloader())
    next(loader)
    start, clips = time.perf_counter(), 0
    for _ in range(batches):
        video, _ = next(loader)
        clips += len(video)
    return clips / (time.perf_counter() - start)


def bench_source(source: str, lpc_root: str | None, batches: int, workers: list[int]) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix=f"bench-sprites-{source}-")
    try:
        kwargs = {"source": source, "lpc_root": lpc_root, "data_dir": data_dir, "batch_size": 32}
        start = time.perf_counter()
        dm = SpritesDataModule(**kwargs)
        dm.prepare_data()
        build = time.perf_counter() - start
        start = time.perf_counter()  # a second run: verify the cache and open it
        dm = SpritesDataModule(**kwargs)
        dm.prepare_data()
        dm.setup("fit")
        load = time.perf_counter() - start
        row = {"build_s": build, "load_s": load}
        for n in workers:
            row[f"clips_per_s_w{n}"] = loader_throughput(dm, n, batches)
        return row
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=["lpc", "procedural"])
    parser.add_argument("--lpc_root", default=os.environ.get("SPRITES_LPC", str(REPO.parent / "shared" / "lpc_assets")))
    parser.add_argument("--batches", type=int, default=200, help="batches of 32 clips timed per loader")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()

    rows = {source: bench_source(source, args.lpc_root, args.batches, args.workers) for source in args.sources}
    print(f"\nmachine: {machine()}")
    print(f"batch 32 clips of 8x3x64x64; {args.batches} batches timed per loader\n")
    header = ["source", "build (s)", "load cached (s)"] + [f"clips/s, {n} workers" for n in args.workers]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for source, row in rows.items():
        cells = [source, f"{row['build_s']:.1f}", f"{row['load_s']:.2f}"]
        cells += [f"{row[f'clips_per_s_w{n}']:.0f}" for n in args.workers]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
