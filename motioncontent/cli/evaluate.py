"""`motioncontent eval ...`: score a trained model.

    motioncontent eval sprites --config configs/sprites.yaml --ckpt_path CKPT [--judge checkpoints/judge_sprites.ckpt]
                               [--out outputs/eval_sprites] [--steps N] [--sampler euler] [--limit N] [--probes true]

    motioncontent eval sweep-sprites --targets 3 6 9 12 [-- <extra fit arguments>]   (eval/rate_sweep.py)

`eval sprites` reads the `data` section of the run config (the split the model was trained on; the test split is
scored) and writes <out>/sprites_eval.json and .md, and TensorBoard scalars under logs/eval_sprites/<run name>.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch

from motioncontent.cli.subcommands import dispatch, run_config_parser
from motioncontent.errors import MotionContentError

DEFAULT_JUDGE = "checkpoints/judge_sprites.ckpt"


def _sprites_parser() -> Any:
    parser = run_config_parser("motioncontent eval sprites", "Swap accuracies, leakage probes and bits/frame of a "
                               "BCD checkpoint on the Sprites test split.", used=("ckpt_path",))
    parser.add_argument("--ckpt_path", type=Optional[str], default=None, help="the BCD checkpoint to score")
    parser.add_argument("--judge", type=str, default=DEFAULT_JUDGE, help="judge checkpoint (make judge-sprites)")
    parser.add_argument("--out", type=str, default="outputs/eval_sprites", help="folder for the JSON and markdown")
    parser.add_argument("--log_dir", type=Optional[str], default=None,
                        help="TensorBoard folder (default logs/eval_sprites/<checkpoint name>)")
    parser.add_argument("--steps", type=Optional[int], default=None,
                        help="sampler steps per generated clip (default: the model's sample_steps)")
    parser.add_argument("--sampler", type=Optional[str], default=None, help="euler or heun (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the swap pairing and of the sampler noise")
    parser.add_argument("--limit", type=Optional[int], default=None, help="score only the first N test clips")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--probes", type=bool, default=True, help="also fit the linear leakage probes")
    return parser


def _checked(path: Optional[str], what: str, hint: str) -> Path:
    if not path:
        raise MotionContentError(f"no {what} given; {hint}")
    if not Path(path).is_file():
        raise MotionContentError(f"{what} not found: {path}; {hint}")
    return Path(path)


def sprites_command(argv: list[str]) -> None:
    from tqdm import tqdm

    from motioncontent.data.sprites_datamodule import SpritesDataModule
    from motioncontent.diffusion.samplers import SAMPLERS
    from motioncontent.eval.probes import leakage_probes
    from motioncontent.eval.report import log_scalars, write_report
    from motioncontent.eval.sprites_swap import swap_benchmark
    from motioncontent.systems.bcd import BCDModule
    from motioncontent.systems.judge import load_judge

    parser = _sprites_parser()
    cfg = parser.parse_args(argv)
    ckpt = _checked(cfg.ckpt_path, "BCD checkpoint (--ckpt_path)", "train one with `make train-sprites`")
    judge_path = _checked(cfg.judge, "judge checkpoint (--judge)", "train one with `make judge-sprites`")
    datamodule = parser.instantiate_classes(cfg).data
    if not isinstance(datamodule, SpritesDataModule):
        raise MotionContentError(f"'eval sprites' needs Sprites data, the config gives {type(datamodule).__name__}")
    try:
        model = BCDModule.load_from_checkpoint(str(ckpt), map_location="cpu").eval()
    except (KeyError, TypeError, RuntimeError) as error:
        raise MotionContentError(f"{ckpt} is not a BCDModule checkpoint ({type(error).__name__}: {error})") from None
    if cfg.sampler:
        if cfg.sampler not in SAMPLERS:
            raise MotionContentError(f"unknown sampler '{cfg.sampler}'; choose {' or '.join(SAMPLERS)}")
        model.hparams.sampler = cfg.sampler
    judge = load_judge(str(judge_path))
    datamodule.prepare_data()
    datamodule.setup("test")

    started = time.time()
    figures: dict[str, Any] = {"checkpoint": str(ckpt), "judge": str(judge_path), "data_source": datamodule.source,
                               "judge_data_source": judge.data_source}
    if judge.data_source != datamodule.source:
        print(f"note: the judge was trained on '{judge.data_source}' sprites and scores '{datamodule.source}' ones")
    progress = lambda it, n: tqdm(it, total=n, desc="swap + reconstruction", unit="batch")  # noqa: E731
    figures["swap"] = swap_benchmark(model, judge, datamodule.test_set, steps=cfg.steps, seed=cfg.seed,
                                     limit=cfg.limit, batch_size=cfg.batch_size, progress=progress)
    if cfg.probes:
        print("fitting the leakage probes ...")
        figures["probes"] = leakage_probes(model, datamodule.train_set, datamodule.test_set)
    figures["seconds"] = round(time.time() - started, 1)

    out, table = Path(cfg.out), sprites_markdown(figures)
    try:
        paths = write_report(out, "sprites_eval", figures, table)
    except OSError as error:
        raise MotionContentError(f"cannot write the report to {out}: {error.strerror}") from None
    log_dir = Path(cfg.log_dir or Path("logs") / "eval_sprites" / ckpt.stem)
    step = int(torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True).get("global_step", 0))
    log_scalars(log_dir, {k: v for k, v in figures.items() if k in ("swap", "probes")}, step=step)
    print(table)
    print("wrote " + ", ".join(str(p) for p in paths) + f"; TensorBoard: {log_dir}")


def sprites_markdown(figures: dict[str, Any]) -> str:
    """The figures as one markdown table, with each metric's ceiling or chance level."""
    from motioncontent.eval.report import markdown_table
    from motioncontent.systems.judge import ATTRIBUTES

    s = figures["swap"]
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    rows = [
        ("motion swap accuracy (vs driving clip)", pct(s["motion_swap"]["acc"]), "100%"),
        *[(f"{name} swap accuracy (vs content clip)", pct(s[f"{name}_swap_acc"]), "100%")
          for name in ATTRIBUTES],
        ("joint attribute swap accuracy", pct(s["attributes_joint_swap_acc"]), "100%"),
        ("IS (motion head)", f"{s['motion_swap']['is']:.3f}", "9"),
        ("H(y|x)", f"{s['motion_swap']['h_y_given_x']:.3f}", "0"),
        ("H(y)", f"{s['motion_swap']['h_y']:.3f}", "2.197"),
        ("reconstruction PSNR", f"{s['reconstruction_psnr']:.2f} dB", "-"),
        ("reconstruction SSIM", f"{s['reconstruction_ssim']:.3f}", "1"),
        ("bits/frame (hard codes, test split)", f"{s['bits_per_frame']:.2f}",
         f"target {s['target_bits_per_frame']:g}, capacity {s['capacity_bits_per_frame']:g}"),
        ("judge on real test clips (motion)", pct(s["judge_on_real"]["motion"]), "100%"),
        *[(f"judge on reconstructions ({name})", pct(s["judge_on_reconstruction"][name]), "100%")
          for name in ("motion", *ATTRIBUTES)],
    ]
    for name, probe in figures.get("probes", {}).items():
        rows.append((f"probe {name.replace('_', ' ')}", pct(probe["accuracy"]), f"chance {pct(probe['chance'])}"))
    title = f"Sprites ({figures['data_source']}), {s['clips']} test clips, {s['sampler']} {s['steps']} steps"
    header = (title, "value", "ceiling / chance")
    return markdown_table(rows, header)


def sweep_sprites_command(argv: list[str]) -> None:
    from motioncontent.eval.rate_sweep import sweep_main

    sweep_main(argv)


COMMANDS = {"sprites": sprites_command, "sweep-sprites": sweep_sprites_command}


def eval_main(argv: list[str]) -> None:
    dispatch("eval", COMMANDS, __doc__ or "", argv)
