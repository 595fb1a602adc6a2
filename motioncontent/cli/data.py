"""`motioncontent data ...`: build, verify and look at datasets without training.

    motioncontent data sprites --config configs/sprites.yaml [--data.init_args.source=lpc] [--preview grid.png]
                               [--export_npy DIR]
    motioncontent data talking-heads --src VIDEOS_DIR_or_list.txt --dst CACHE_DIR [--size 64 --fps 25
                               --crop none|box|detect --clip_len 16 --workers N --preview crops.png ...]

`data sprites` reads the same run configs as `fit` (only their `data` section), so what it builds is what
training uses. `data talking-heads` preprocesses your own videos into the clip cache that
configs/data/talking_heads_folder.yaml trains on (the synthetic default needs no preprocessing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from motioncontent.cli.subcommands import (SPRITES_DATAMODULE, Parser, check_writable_dir, check_writable_file,
                                          dispatch, run_config_parser)
from motioncontent.errors import MotionContentError


def _sprites_parser() -> Parser:
    parser = run_config_parser("motioncontent data sprites",
                               "Build (or verify) the Sprites cache and print what it holds.")
    parser.add_argument("--preview", type=Optional[str], default=None,
                        help="write a PNG grid: one row per motion of the first test character, one column per frame")
    parser.add_argument("--export_npy", type=Optional[str], default=None,
                        help="also write the standard float32 arrays sprites_{X,A,D}_{train,test}.npy to this folder")
    return parser


def sprites_command(argv: list[str]) -> None:
    from motioncontent.data.sprites import arrays
    from motioncontent.data.sprites_datamodule import SpritesDataModule

    parser = _sprites_parser()
    cfg = parser.parse_args(argv)
    # Outputs are checked before the (possibly minutes-long) build; the cache folder is not, since a finished cache
    # may well sit on read-only storage and only be verified.
    if cfg.preview:
        check_writable_file(cfg.preview, "preview")
    if cfg.export_npy:
        check_writable_dir(cfg.export_npy, "export folder (--export_npy)")
    datamodule = parser.instantiate_classes(cfg).data
    if not isinstance(datamodule, SpritesDataModule):
        raise MotionContentError(f"'data sprites' needs {SPRITES_DATAMODULE}, the config gives {type(datamodule).__name__}")
    if not datamodule.cache_dir.exists():  # to be built: its folder must be writable (an existing one may be read-only)
        check_writable_dir(datamodule.cache_dir, "cache folder (data.init_args.data_dir)")
    datamodule.prepare_data()
    datamodule.setup("fit")
    print(datamodule.summary())
    if cfg.preview:
        write_preview(datamodule, cfg.preview)
        print(f"preview: {cfg.preview}")
    if cfg.export_npy:
        for path in arrays.export_standard_arrays(datamodule.cache_dir, Path(cfg.export_npy)):
            print(f"wrote {path}")


def write_preview(datamodule: Any, path: str, scale: int = 2) -> None:
    """PNG of the 9 motions (rows) x 8 frames (columns) of the first test character; atomic."""
    from motioncontent.callbacks.media import png_bytes, save_atomic
    from motioncontent.data.transforms import signed_to_uint8

    dataset = datamodule.test_set
    first = dataset.labels["character"][dataset.indices[0]]
    rows = [k for k in range(len(dataset)) if dataset.labels["character"][dataset.indices[k]] == first]
    rows.sort(key=lambda k: dataset.labels["motion"][dataset.indices[k]])
    frames = [signed_to_uint8(dataset[k][0]).permute(0, 2, 3, 1).numpy() for k in rows]  # each (T, H, W, C)
    grid = np.concatenate([np.concatenate(list(clip), axis=1) for clip in frames], axis=0)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)  # nearest-neighbour upscaling keeps the pixel art crisp
    save_atomic(Path(path), png_bytes(grid))


def _talking_heads_parser() -> Parser:
    from motioncontent.data.talking_heads.face_crop import CropSettings
    from motioncontent.data.talking_heads.preprocess import PreprocessSettings, default_workers

    p, f = PreprocessSettings(), CropSettings()
    parser = Parser(prog="motioncontent data talking-heads", description=(
        "Decode, face-crop and resize talking-head videos into a lossless clip cache (uint8 .npy clips plus "
        "manifest.json). Re-running skips finished videos; unusable inputs are listed in DST/report.txt."))
    parser.add_argument("--src", type=str, required=True,
                        help="folder of videos (mp4 mov mkv avi webm; searched recursively; VoxCeleb id/video/clip "
                             "trees and folders of png/jpg frames work too) or a .txt file listing them")
    parser.add_argument("--dst", type=Optional[str], default=None,
                        help="cache folder (default data/talking_heads/<src name>)")
    parser.add_argument("--fps", type=float, default=p.fps, help="output frame rate")
    parser.add_argument("--size", type=int, default=p.size, help="output side in pixels (64, 128, 256, ...)")
    parser.add_argument("--crop", type=str, default=p.crop, choices=["none", "box", "detect"],
                        help="none: centre square; box: face boxes from CLIP.boxes.csv sidecars; detect: mediapipe "
                             "(the `faces` extra)")
    parser.add_argument("--clip_len", type=int, default=p.clip_len,
                        help="drop clips shorter than this many frames (use the training num_frames)")
    parser.add_argument("--max_clip_frames", type=int, default=p.max_clip_frames,
                        help="split longer face tracks into clips of at most this many frames")
    parser.add_argument("--frames_fps", type=float, default=p.frames_fps, help="frame rate of frame-image folders")
    parser.add_argument("--increase", type=float, default=f.increase,
                        help="box enlargement: each side grows by this share at both ends (0.1 as vox-256)")
    parser.add_argument("--track", type=str, default=f.track, choices=["smooth", "tube"],
                        help="smooth: Gaussian-smoothed moving crop; tube: one fixed box per chunk (vox-256)")
    parser.add_argument("--smooth_seconds", type=float, default=f.smooth_seconds, help="sigma of the centre smoothing")
    parser.add_argument("--scale_smooth_seconds", type=float, default=f.scale_smooth_seconds,
                        help="sigma of the crop-size smoothing")
    parser.add_argument("--max_gap_seconds", type=float, default=f.max_gap_seconds,
                        help="a face lost for longer than this cuts the clip")
    parser.add_argument("--cut_iou", type=float, default=f.cut_iou,
                        help="cut where consecutive face boxes overlap less than this (shot change)")
    parser.add_argument("--offset_y", type=float, default=f.offset_y,
                        help="move the crop centre down by this share of the crop side (negative: up)")
    parser.add_argument("--detector_model", type=int, default=p.detector_model,
                        help="mediapipe face detector: 0 short range (selfie), 1 full range")
    parser.add_argument("--min_confidence", type=float, default=p.min_confidence, help="detection score threshold")
    parser.add_argument("--workers", type=int, default=default_workers(), help="parallel processes")
    parser.add_argument("--identity_level", type=int, default=0,
                        help="folder level below --src that names the person (0: top folder, -1: the clip's folder)")
    parser.add_argument("--identity_regex", type=Optional[str], default=None,
                        help="regex on the path below --src whose first group names the person (overrides the level)")
    parser.add_argument("--preview", type=Optional[str], default=None,
                        help="write a PNG: 8 frames of each of the first 8 clips, to check the crops")
    parser.add_argument("--progress", type=bool, default=True, help="show a progress bar")
    return parser


def talking_heads_command(argv: list[str]) -> None:
    from motioncontent.data.talking_heads.face_crop import CropSettings
    from motioncontent.data.talking_heads.preprocess import PreprocessSettings, default_cache_dir, preprocess

    cfg = _talking_heads_parser().parse_args(argv)
    if cfg.size < 8 or cfg.fps <= 0 or cfg.clip_len < 1:
        raise MotionContentError(f"--size must be >= 8, --fps > 0 and --clip_len >= 1 (got {cfg.size}, {cfg.fps}, "
                                 f"{cfg.clip_len})")
    face = CropSettings(increase=cfg.increase, track=cfg.track, smooth_seconds=cfg.smooth_seconds,
                        scale_smooth_seconds=cfg.scale_smooth_seconds, max_gap_seconds=cfg.max_gap_seconds,
                        cut_iou=cfg.cut_iou, offset_y=cfg.offset_y)
    settings = PreprocessSettings(fps=cfg.fps, size=cfg.size, crop=cfg.crop, clip_len=cfg.clip_len,
                                  max_clip_frames=cfg.max_clip_frames, frames_fps=cfg.frames_fps,
                                  detector_model=cfg.detector_model, min_confidence=cfg.min_confidence, face=face)
    dst = Path(cfg.dst) if cfg.dst else default_cache_dir(cfg.src)
    check_writable_dir(dst, "cache folder (--dst)")
    if cfg.preview:
        check_writable_file(cfg.preview, "preview")
    result = preprocess(cfg.src, dst, settings, workers=cfg.workers, identity_level=cfg.identity_level,
                        identity_regex=cfg.identity_regex, progress=cfg.progress)
    print(result.summary)
    if cfg.preview:
        write_clip_preview(dst, result.manifest["clips"][:8], cfg.preview)
        print(f"preview: {cfg.preview}")
    print(f"cache: {dst}  (train: motioncontent fit --config configs/talking_heads.yaml "
          f"--config configs/data/talking_heads_folder.yaml --data.init_args.cache_dir={dst}"
          + (f" --data.init_args.image_size={cfg.size} --model.init_args.image_size={cfg.size}" if cfg.size != 64
             else "") + ")")


def write_clip_preview(directory: Path, clips: list[dict[str, Any]], path: str, frames: int = 8) -> None:
    """PNG with one row per clip: `frames` evenly spaced frames; atomic."""
    from motioncontent.callbacks.media import png_bytes, save_atomic

    rows = []
    for clip in clips:
        video = np.load(directory / clip["file"], mmap_mode="r", allow_pickle=False)
        picks = np.linspace(0, len(video) - 1, frames).round().astype(int)
        rows.append(np.concatenate([video[i] for i in picks], axis=1))
    save_atomic(Path(path), png_bytes(np.concatenate(rows, axis=0)))


COMMANDS = {"sprites": sprites_command, "talking-heads": talking_heads_command}


def data_main(argv: list[str]) -> None:
    dispatch("data", COMMANDS, __doc__ or "", argv)
