"""The rate sweep of the Sprites evaluation: train the same config at several bits/frame targets, score each run,
and draw measured bits/frame against motion swap accuracy and joint attribute accuracy (the rate-disentanglement
trade-off: starved motion codes cannot carry the pose, loose ones let appearance in).

    motioncontent eval sweep-sprites --targets 3 6 9 12 [--out outputs/sweep_sprites] [-- <extra fit arguments>]

Resumable: a target whose evaluation JSON exists is not trained again. Each run trains through a `motioncontent
fit` subprocess (its own process, as a user runs it), so a crash of one run leaves the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from motioncontent.callbacks.media import save_atomic
from motioncontent.errors import MotionContentError
from motioncontent.eval.report import markdown_table, write_report


def _data_args(extra: list[str]) -> list[str]:
    """The --config files and --data.* overrides of the fit arguments: what the evaluation needs to find the data."""
    keep, i = [], 0
    while i < len(extra):
        if extra[i] == "--config" and i + 1 < len(extra):
            keep += extra[i : i + 2]
            i += 2
            continue
        if extra[i].startswith("--data."):
            keep.append(extra[i])
        i += 1
    return keep


def trained_steps(checkpoint: Path) -> int | None:
    """The optimizer steps a run's checkpoint was trained for: fewer than max_steps when max_time stopped it."""
    import torch

    if not checkpoint.is_file():
        return None
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"])


def run_target(target: float, config: str, out: Path, extra: list[str], eval_args: list[str]) -> dict[str, Any]:
    from motioncontent.cli.evaluate import sprites_command

    name = f"bits_{target:g}"
    result = out / name / "sprites_eval.json"
    if result.is_file():
        print(f"{name}: already evaluated, {result}")
        return json.loads(result.read_text())
    fit = [sys.executable, "-m", "motioncontent", "fit", "--config", config, *extra,
           f"--model.init_args.target_bits_per_frame={target:g}",
           f"--trainer.logger.init_args.save_dir={out / 'runs'}", "--trainer.logger.init_args.name=sweep",
           f"--trainer.logger.init_args.version={name}"]
    print(f"{name}: training ({' '.join(fit[3:])})", flush=True)
    if subprocess.run(fit).returncode != 0:
        log = out / "runs" / "sweep" / name
        raise MotionContentError(f"training at {target:g} bits/frame failed; its log is in {log}")
    checkpoint = out / "runs" / "sweep" / name / "checkpoints" / "last.ckpt"
    sprites_command(["--config", config, *_data_args(extra), "--ckpt_path", str(checkpoint),
                     "--out", str(out / name), "--log_dir", str(out / "runs" / "sweep" / name / "eval"), *eval_args])
    return json.loads(result.read_text())


def plot(rows: list[dict[str, float]], path: Path) -> None:
    """Measured bits/frame against motion swap accuracy and joint attribute accuracy, as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["bits_per_frame"])
    bits = [r["bits_per_frame"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    ax.plot(bits, [100 * r["motion_acc"] for r in rows], "o-", label="motion swap accuracy")
    ax.plot(bits, [100 * r["attributes_joint_acc"] for r in rows], "s-", label="joint attribute swap accuracy")
    for r in rows:
        ax.annotate(f"target {r['target']:g}", (r["bits_per_frame"], 100 * r["motion_acc"]), fontsize=7,
                    xytext=(3, 4), textcoords="offset points")
    ax.set_xlabel("measured motion rate (bits/frame, hard codes, test split)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    save_atomic(path, buffer.getvalue())


def sweep_main(argv: list[str]) -> None:
    # plain argparse, not a run-config parser: everything after `--` is handed to `fit` untouched
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    from motioncontent.cli.subcommands import PlainParser

    parser = PlainParser(prog="motioncontent eval sweep-sprites", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/sprites.yaml", help="the run config trained at every target")
    parser.add_argument("--targets", type=float, nargs="+", default=[3.0, 6.0, 9.0, 12.0],
                        help="bits/frame targets (>= 4 values span starved to loose)")
    parser.add_argument("--out", default="outputs/sweep_sprites")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps of the evaluation")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N test clips")
    parser.add_argument("--no_probes", action="store_true", help="skip the leakage probes")
    parser.add_argument("--judge", default=None, help="judge checkpoint (default: the evaluation's)")
    args = parser.parse_args(own)
    if not Path(args.config).is_file():
        raise MotionContentError(f"config not found: {args.config}")
    eval_args = [*(["--steps", str(args.steps)] if args.steps else []),
                 *(["--limit", str(args.limit)] if args.limit else []),
                 *(["--probes", "false"] if args.no_probes else []),
                 *(["--judge", args.judge] if args.judge else [])]
    out = Path(args.out)
    rows = []
    for target in args.targets:
        figures = run_target(target, args.config, out, extra, eval_args)["swap"]
        steps = trained_steps(out / "runs" / "sweep" / f"bits_{target:g}" / "checkpoints" / "last.ckpt")
        rows.append({"target": target, "steps": steps, "bits_per_frame": figures["bits_per_frame"],
                     "motion_acc": figures["motion_swap"]["acc"],
                     "attributes_joint_acc": figures["attributes_joint_swap_acc"],
                     "reconstruction_psnr": figures["reconstruction_psnr"]})
    table = markdown_table(
        [(f"{r['target']:g}", "-" if r["steps"] is None else str(r["steps"]), f"{r['bits_per_frame']:.2f}",
          f"{100 * r['motion_acc']:.1f}%", f"{100 * r['attributes_joint_acc']:.1f}%",
          f"{r['reconstruction_psnr']:.2f}") for r in rows],
        ("target bits/frame", "steps trained", "measured bits/frame", "motion swap acc", "joint attribute acc",
         "recon PSNR (dB)"))
    paths = write_report(out, "rate_sweep", {"config": args.config, "runs": rows}, table)
    plot(rows, out / "rate_sweep.png")
    print(table)
    print("wrote " + ", ".join(str(p) for p in [*paths, out / "rate_sweep.png"]))
