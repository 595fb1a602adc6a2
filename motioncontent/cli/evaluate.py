"""`motioncontent eval ...`: score a trained model.

    motioncontent eval sprites --config configs/sprites.yaml --ckpt_path CKPT [--judge checkpoints/judge_sprites.ckpt]
                               [--out outputs/eval_sprites] [--steps N] [--sampler euler] [--limit N] [--probes true]

    motioncontent eval sweep-sprites --targets 3 6 9 12 [-- <extra fit arguments>]   (eval/rate_sweep.py)

    motioncontent eval talking-heads --config configs/talking_heads.yaml --ckpt_path CKPT
                               [--judge checkpoints/judge_talking_heads.ckpt] [--out outputs/eval_talking_heads]
                               [--landmarks auto|on|off] [--landmark_stride 4] [--limit N] [--seed 0]

`eval sprites` reads the `data` section of the run config (the split the model was trained on; the test split is
scored) and writes <out>/sprites_eval.json and .md, and TensorBoard scalars under logs/eval_sprites/<run name>.
`eval talking-heads` does the same for talking heads (eval/talking_heads.py): <out>/talking_heads_eval.json and .md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch

from motioncontent.cli.subcommands import check_writable_dir, dispatch, run_config_parser
from motioncontent.errors import MotionContentError

DEFAULT_JUDGE = "checkpoints/judge_sprites.ckpt"


def _add_scoring_arguments(parser: Any, name: str, judge: str, judge_make: str, items: str, pairing: str,
                           batch_size: int) -> None:
    """The arguments every `eval` command shares: what to score, with which judge, where to write, how to sample."""
    parser.add_argument("--ckpt_path", type=Optional[str], default=None, help="the BCD checkpoint to score")
    parser.add_argument("--judge", type=str, default=judge, help=f"judge checkpoint (make {judge_make})")
    parser.add_argument("--out", type=str, default=f"outputs/{name}", help="folder for the JSON and markdown")
    parser.add_argument("--log_dir", type=Optional[str], default=None,
                        help=f"TensorBoard folder (default logs/{name}/<checkpoint name>)")
    parser.add_argument("--steps", type=Optional[int], default=None,
                        help="sampler steps per generated clip (default: the model's sample_steps)")
    parser.add_argument("--sampler", type=Optional[str], default=None, help="euler or heun (default: the model's)")
    parser.add_argument("--guidance", type=Optional[float], default=None,
                        help="classifier-free guidance weight on the content (default: the model's content_guidance)")
    parser.add_argument("--guidance_interval", type=Optional[tuple[float, float]], default=None,
                        help="guide only where lo < sigma <= hi, as [lo, hi] (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help=f"seed of the {pairing} pairing and of the sampler noise")
    parser.add_argument("--limit", type=Optional[int], default=None, help=f"score only the first N test {items}")
    parser.add_argument("--batch_size", type=int, default=batch_size)


def _sprites_parser() -> Any:
    parser = run_config_parser("motioncontent eval sprites", "Swap accuracies, leakage probes and bits/frame of a "
                               "BCD checkpoint on the Sprites test split.", used=("ckpt_path",))
    _add_scoring_arguments(parser, "eval_sprites", DEFAULT_JUDGE, "judge-sprites", "clips", "swap", batch_size=32)
    parser.add_argument("--probes", type=bool, default=True, help="also fit the linear leakage probes")
    return parser


def guidance_note(figures: dict[str, Any]) -> str:
    """The sampler line's mention of content guidance, empty when there is none (w = 1)."""
    guidance, interval = figures.get("guidance", 1.0), figures.get("guidance_interval")
    if guidance == 1.0:
        return ""
    return f", content guidance {guidance:g}" + (f" at {interval[0]:g} < sigma <= {interval[1]:g}" if interval else "")


def _checked(path: Optional[str], what: str, hint: str) -> Path:
    if not path:
        raise MotionContentError(f"no {what} given; {hint}")
    if not Path(path).is_file():
        raise MotionContentError(f"{what} not found: {path}; {hint}")
    return Path(path)


def sprites_command(argv: list[str]) -> None:
    from tqdm import tqdm

    from motioncontent.data.sprites_datamodule import SpritesDataModule
    from motioncontent.eval.probes import leakage_probes
    from motioncontent.eval.report import log_scalars, write_report
    from motioncontent.eval.sprites_swap import swap_benchmark
    from motioncontent.systems.bcd import BCDModule
    from motioncontent.systems.inference import check_checkpoint, load_checkpoint_module, set_sampling
    from motioncontent.systems.judge import load_judge

    parser = _sprites_parser()
    cfg = parser.parse_args(argv)
    ckpt = _checked(cfg.ckpt_path, "BCD checkpoint (--ckpt_path)", "train one with `make train-sprites`")
    judge_path = _checked(cfg.judge, "judge checkpoint (--judge)", "train one with `make judge-sprites`")
    # Every input and output is checked before the data are built and minutes of sampling start.
    check_checkpoint(ckpt, "BCDModule", "BCD (--ckpt_path)")
    check_checkpoint(judge_path, "SpritesJudgeModule", "judge (--judge)")
    check_writable_dir(cfg.out, "report folder (--out)")
    check_writable_dir(cfg.log_dir or Path("logs") / "eval_sprites" / ckpt.stem, "TensorBoard folder (--log_dir)")
    model = load_checkpoint_module(ckpt, BCDModule, "BCD (--ckpt_path)")
    set_sampling(model, cfg.sampler, cfg.guidance, cfg.guidance_interval)
    datamodule = parser.instantiate_classes(cfg).data
    if not isinstance(datamodule, SpritesDataModule):
        raise MotionContentError(f"'eval sprites' needs Sprites data, the config gives {type(datamodule).__name__}")
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
    by_facing = {group: s["attributes_by_facing"].get(group) for group in ("same", "different", "mirrored", "turned")}
    rows = [
        ("motion swap accuracy (vs driving clip)", pct(s["motion_swap"]["acc"]), "100%"),
        ("action / direction of the driving clip", f"{pct(s['action_swap_acc'])} / {pct(s['direction_swap_acc'])}",
         "100%"),
        ("motion of the content clip instead", pct(s["motion_of_content_clip"]), "0%"),
        *[(f"{name} swap accuracy (vs content clip)", pct(s[f"{name}_swap_acc"]), "100%")
          for name in ATTRIBUTES],
        ("joint attribute swap accuracy", pct(s["attributes_joint_swap_acc"]), "100%"),
        ("joint attributes, driving clip facing the same way / another way",
         " / ".join(pct(by_facing[g]["joint"]) if by_facing[g] else "-" for g in ("same", "different")), "100%"),
        ("joint attributes, the other way mirrored (left <-> right) / turned (front <-> side)",
         " / ".join(pct(by_facing[g]["joint"]) if by_facing[g] else "-" for g in ("mirrored", "turned")), "100%"),
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
    title = (f"Sprites ({figures['data_source']}), {s['clips']} test clips, {s['sampler']} {s['steps']} steps"
             f"{guidance_note(s)}")
    header = (title, "value", "ceiling / chance")
    return markdown_table(rows, header)


def sweep_sprites_command(argv: list[str]) -> None:
    from motioncontent.eval.rate_sweep import sweep_main

    sweep_main(argv)


DEFAULT_TALKING_HEAD_JUDGE = "checkpoints/judge_talking_heads.ckpt"


def _talking_heads_parser() -> Any:
    parser = run_config_parser("motioncontent eval talking-heads", "Reconstruction and cross-identity motion "
                               "transfer of a talking-head BCD checkpoint on the test people.", used=("ckpt_path",),
                               datamodule="motioncontent.data.TalkingHeadDataModule")
    _add_scoring_arguments(parser, "eval_talking_heads", DEFAULT_TALKING_HEAD_JUDGE, "judge-talking-heads",
                           "windows", "transfer", batch_size=16)
    parser.add_argument("--landmarks", type=str, default="auto",
                        help="mesh keypoint distance with mediapipe's face mesh: auto (when it runs here), on, off")
    parser.add_argument("--landmark_stride", type=int, default=4, help="score landmarks on every N-th frame")
    return parser


def talking_heads_command(argv: list[str]) -> None:
    from tqdm import tqdm

    from motioncontent.data.talking_heads_datamodule import TalkingHeadDataModule
    from motioncontent.eval.landmarks import FaceMeshLandmarks, landmark_status
    from motioncontent.eval.report import log_scalars, write_report
    from motioncontent.eval.talking_heads import talking_head_benchmark
    from motioncontent.systems.bcd import BCDModule
    from motioncontent.systems.inference import (check_checkpoint, load_checkpoint_module, sampling_settings,
                                                  set_sampling)
    from motioncontent.systems.talking_head_judge import TalkingHeadJudgeModule

    parser = _talking_heads_parser()
    cfg = parser.parse_args(argv)
    if cfg.landmarks not in ("auto", "on", "off"):
        raise MotionContentError(f"--landmarks must be auto, on or off, not '{cfg.landmarks}'")
    if cfg.landmark_stride < 1:
        raise MotionContentError(f"--landmark_stride must be 1 or more, not {cfg.landmark_stride}")
    ckpt = _checked(cfg.ckpt_path, "BCD checkpoint (--ckpt_path)", "train one with `make train-talking-heads`")
    judge_path = _checked(cfg.judge, "judge checkpoint (--judge)", "train one with `make judge-talking-heads`")
    # Every input and output is checked before the data are built and minutes of sampling start.
    check_checkpoint(ckpt, "BCDModule", "BCD (--ckpt_path)")
    check_checkpoint(judge_path, "TalkingHeadJudgeModule", "talking-head judge (--judge)")
    check_writable_dir(cfg.out, "report folder (--out)")
    log_dir = Path(cfg.log_dir or Path("logs") / "eval_talking_heads" / ckpt.stem)
    check_writable_dir(log_dir, "TensorBoard folder (--log_dir)")
    model = load_checkpoint_module(ckpt, BCDModule, "BCD (--ckpt_path)")
    set_sampling(model, cfg.sampler, cfg.guidance, cfg.guidance_interval)
    datamodule = parser.instantiate_classes(cfg).data
    if not isinstance(datamodule, TalkingHeadDataModule):
        raise MotionContentError(f"'eval talking-heads' needs talking-head data, the config gives "
                                 f"{type(datamodule).__name__}")
    judge = load_checkpoint_module(judge_path, TalkingHeadJudgeModule, "talking-head judge (--judge)")
    if judge.hparams.image_size != datamodule.image_size:
        raise MotionContentError(f"the judge reads {judge.hparams.image_size} px frames, the data are "
                                 f"{datamodule.image_size} px")
    datamodule.prepare_data()
    datamodule.setup("test")
    seen = sorted(set(judge.train_identities) & set(datamodule.splits["test"]))
    if seen:  # a judge that learnt these people would flatter every identity figure
        raise MotionContentError(f"the judge was trained on {len(seen)} of the test people (e.g. {seen[0]}); train "
                                 f"it with the same data split as the evaluated config")

    mesh, landmark_note = None, ""
    if cfg.landmarks != "off":
        ok, why = landmark_status()
        if ok:
            mesh = FaceMeshLandmarks()
        elif cfg.landmarks == "on":
            raise MotionContentError(f"mediapipe's face mesh does not run here ({why}); use --landmarks off")
        else:
            landmark_note = why
            print(f"note: mesh keypoint distance unavailable ({why})")

    started = time.time()
    progress = lambda it, n: tqdm(it, total=n, desc="talking-head eval", unit="batch")  # noqa: E731
    figures: dict[str, Any] = {"checkpoint": str(ckpt), "judge": str(judge_path), "data_source": datamodule.source,
                               **sampling_settings(model, cfg.steps)}
    figures.update(talking_head_benchmark(model, judge, datamodule.test_set, steps=cfg.steps, seed=cfg.seed,
                                          limit=cfg.limit, batch_size=cfg.batch_size, landmarks=mesh,
                                          landmark_stride=cfg.landmark_stride, progress=progress))
    if mesh is None:
        figures["mesh_keypoints"] = {"available": False, "reason": landmark_note or "turned off (--landmarks off)"}
    figures["seconds"] = round(time.time() - started, 1)

    out, table = Path(cfg.out), talking_heads_markdown(figures)
    try:
        paths = write_report(out, "talking_heads_eval", figures, table)
    except OSError as error:
        raise MotionContentError(f"cannot write the report to {out}: {error.strerror}") from None
    step = int(torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True).get("global_step", 0))
    log_scalars(log_dir, {k: v for k, v in figures.items()
                          if k in ("reconstruction", "identity", "motion_factors", "identity_factors",
                                   "mesh_keypoints")}, step=step)
    print(table)
    print("wrote " + ", ".join(str(p) for p in paths) + f"; TensorBoard: {log_dir}")


def talking_heads_markdown(figures: dict[str, Any]) -> str:
    """Two markdown tables: the headline figures (real clips = the judge's ceiling, same-identity reconstruction =
    the reference, cross-identity transfer), then the motion-factor errors per factor."""
    from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS

    pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    num = lambda x, f=".3f": "-" if x is None else format(x, f)  # noqa: E731
    ident, recon = figures["identity"], figures["reconstruction"]
    rows = [
        ("L1 (vs own frames, [0, 1])", "0", num(recon["l1"], ".4f"), "-", "-"),
        ("PSNR (dB)", "-", num(recon["psnr"], ".2f"), "-", "-"),
        ("SSIM", "1", num(recon["ssim"]), "-", "-"),
        ("identity accuracy (recognised as the content person)", pct(ident["real"]["accuracy"]),
         pct(ident["recon"]["accuracy"]), pct(ident["transfer"]["accuracy"]),
         f"chance {pct(figures['chance_identity'])}"),
        ("recognised as the driving person (leakage)", "-", "-", pct(ident["transfer"]["recognised_as_driving"]),
         f"chance {pct(figures['chance_identity'])}"),
    ]
    motion, factors = figures["motion_factors"], figures["identity_factors"]
    if motion.get("available", True):
        rows += [
            ("motion-factor error (normalised MAE; vs driving, own for real/recon)",
             num(motion["real_vs_own"]["normalised"]), num(motion["recon_vs_own"]["normalised"]),
             num(motion["transfer_vs_driving"]["normalised"]),
             f"content clip's true motion {num(motion['reference_content_vs_driving']['normalised'])}; "
             f"mean {num(motion['reference_mean_predictor']['normalised'])}"),
            ("motion-factor error vs the content clip's motion", "-", "-",
             num(motion["transfer_vs_content"]["normalised"]), "-"),
            ("identity factors, all 6 right (vs content person)", pct(factors["real_vs_own"]["joint"]),
             pct(factors["recon_vs_own"]["joint"]), pct(factors["transfer_vs_content"]["joint"]), "-"),
            ("identity factors, all 6 = the driving person's", "-", "-", pct(factors["transfer_vs_driving"]["joint"]),
             "-"),
        ]
    else:
        rows.append(("motion / identity factors", "unavailable", motion.get("reason", ""), "", ""))
    mesh = figures.get("mesh_keypoints", {})
    if mesh.get("available"):
        found = mesh["face_found"]
        rows += [
            ("mesh keypoint distance (inter-ocular distances; vs driving, own for recon)", "0",
             num(mesh["recon_vs_own"]), num(mesh["transfer_vs_driving"]),
             f"content clip vs driving {num(mesh['reference_content_vs_driving'])}"),
            ("frames where the face mesh finds a face", pct(found["real"]), pct(found["recon"]),
             pct(found["transfer"]), "-"),
        ]
    else:
        rows.append(("mesh keypoint distance", "unavailable", mesh.get("reason", ""), "", ""))
    title = (f"talking heads ({figures['data_source']}), {figures['windows']} test windows of "
             f"{figures['frames_per_window']} frames, {figures['people']} people, {figures['sampler']} "
             f"{figures['steps']} steps{guidance_note(figures)}")
    text = _table((title, "real clips (judge ceiling)", "reconstruction", "transfer", "reference"), rows)
    if motion.get("available", True):
        scale = motion["scale"]
        per = [(name, f"{scale[name]:.3g}", num(motion["real_vs_own"]["mae"][name]),
                num(motion["recon_vs_own"]["mae"][name]), num(motion["transfer_vs_driving"]["mae"][name]),
                num(motion["reference_content_vs_driving"]["mae"][name]))
               for name in MOTION_FACTORS]
        text += "\n" + _table(("motion factor MAE (natural units)", "test std", "real clips", "reconstruction",
                                "transfer vs driving", "content clip's true motion vs driving"), per)
    return text


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = [f"| {' | '.join(header)} |", f"|{'|'.join('---' for _ in header)}|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines) + "\n"


COMMANDS = {"sprites": sprites_command, "sweep-sprites": sweep_sprites_command,
            "talking-heads": talking_heads_command}


def eval_main(argv: list[str]) -> None:
    dispatch("eval", COMMANDS, __doc__ or "", argv)
