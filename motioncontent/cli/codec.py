"""`motioncontent codec ...`: a talking-head video as a motion bitstream (content once, a few bits per frame).

    motioncontent codec encode VIDEO FILE --ckpt BCD.ckpt [--prior PRIOR.ckpt --entropy adaptive|static|prior]
                                          [--crop none|detect] [--window 16] [--content_frames 8] [--max_frames N]
    motioncontent codec decode FILE VIDEO --ckpt BCD.ckpt [--prior PRIOR.ckpt] [--steps N] [--seed 0]

The file format and its checks are in codec/bitstream.py, the entropy models in codec/entropy.py. VIDEO may be a
video file, a folder of frame images or an image; it is resampled to the model's fps and cropped (`--crop`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from motioncontent.cli.subcommands import Parser, check_writable_file, dispatch


def _encode_parser() -> Parser:
    from motioncontent.systems.inference import DEFAULT_CONTENT_FRAMES, DEFAULT_WINDOW

    parser = Parser(prog="motioncontent codec encode", description="Encode a video into a motion bitstream.")
    parser.add_argument("video", type=str, help="input video, frame folder or image")
    parser.add_argument("file", type=str, help="output bitstream (.mcb)")
    parser.add_argument("--ckpt", type=str, required=True, help="BCD checkpoint")
    parser.add_argument("--prior", type=Optional[str], default=None, help="motion prior checkpoint")
    parser.add_argument("--entropy", type=str, default=None, choices=["adaptive", "static", "prior"],
                        help="probability model of the codes (default: prior with --prior, else adaptive)")
    parser.add_argument("--crop", type=str, default="none", choices=["none", "detect"], help="how the video is cropped")
    parser.add_argument("--window", type=Optional[int], default=None,
                        help=f"frames per motion window (default: the prior's, else {DEFAULT_WINDOW})")
    parser.add_argument("--content_frames", type=Optional[int], default=None,
                        help=f"frames content is read from (default: the prior's, else {DEFAULT_CONTENT_FRAMES})")
    parser.add_argument("--max_frames", type=Optional[int], default=None, help="encode at most this many frames")
    return parser


def encode_command(argv: list[str]) -> None:
    from motioncontent.codec.motion_codec import encode_video
    from motioncontent.data.video_frames import FrameSource
    from motioncontent.systems.inference import DEFAULT_CONTENT_FRAMES, DEFAULT_WINDOW, load_bcd, load_prior

    cfg = _encode_parser().parse_args(argv)
    check_writable_file(cfg.file, "bitstream")
    bcd = load_bcd(cfg.ckpt)
    prior = load_prior(cfg.prior, bcd) if cfg.prior else None
    source = FrameSource(Path(cfg.video).expanduser(), int(bcd.hparams.image_size), float(bcd.hparams.fps), cfg.crop)
    source.check()
    window = cfg.window or (prior.hparams.window if prior is not None else DEFAULT_WINDOW)
    content_frames = cfg.content_frames or (prior.hparams.content_frames if prior is not None
                                            else DEFAULT_CONTENT_FRAMES)
    report = encode_video(bcd, source, cfg.file, cfg.entropy or ("prior" if prior is not None else "adaptive"), prior,
                          window=window, content_frames=content_frames, max_frames=cfg.max_frames)
    print(f"{cfg.file}: {report.summary()}")


def _decode_parser() -> Parser:
    parser = Parser(prog="motioncontent codec decode", description="Decode a motion bitstream into an mp4.")
    parser.add_argument("file", type=str, help="input bitstream")
    parser.add_argument("video", type=str, help="output video (.mp4)")
    parser.add_argument("--ckpt", type=str, required=True, help="the BCD checkpoint the file was encoded with")
    parser.add_argument("--prior", type=Optional[str], default=None, help="the prior it was coded with, if any")
    parser.add_argument("--steps", type=Optional[int], default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="sampler noise seed")
    parser.add_argument("--progress", type=bool, default=True, help="show a progress bar")
    return parser


def decode_command(argv: list[str]) -> None:
    from motioncontent.codec.bitstream import read_bitstream
    from motioncontent.codec.motion_codec import decode_file
    from motioncontent.systems.inference import load_bcd, load_prior

    cfg = _decode_parser().parse_args(argv)
    read_bitstream(cfg.file)  # a damaged file fails here, before a model is loaded
    check_writable_file(cfg.video, "video")
    bcd = load_bcd(cfg.ckpt)
    prior = load_prior(cfg.prior, bcd) if cfg.prior else None
    frames, seconds = decode_file(bcd, cfg.file, cfg.video, prior, steps=cfg.steps, seed=cfg.seed,
                                  progress=cfg.progress)
    print(f"{cfg.video}: {frames} frames in {seconds:.1f} s ({frames / seconds:.2f} frames/s)")


COMMANDS = {"encode": encode_command, "decode": decode_command}


def codec_main(argv: list[str]) -> None:
    dispatch("codec", COMMANDS, __doc__ or "", argv)
