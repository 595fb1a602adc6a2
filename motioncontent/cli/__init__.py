"""The `motioncontent` command: LightningCLI's fit/validate/test/predict, plus `data` and `eval` groups.

    motioncontent fit --config configs/sprites.yaml          # Lightning subcommands (cli/lightning_cli.py)
    motioncontent data sprites --config configs/sprites.yaml # dataset build/inspect (cli/data.py)
    motioncontent data talking-heads --src VIDEOS --dst DIR  # preprocess your own talking-head videos
    motioncontent eval sprites --config ... --ckpt_path CKPT # swap accuracies, probes (cli/evaluate.py)
    motioncontent codec encode VIDEO FILE --ckpt BCD.ckpt    # motion bitstream encode/decode (cli/codec.py)

Errors the user can fix (MotionContentError) end the program with one line and exit code 2.
"""

from __future__ import annotations

import logging
import sys

from motioncontent.errors import MotionContentError

DATA_COMMAND = "data"
EVAL_COMMAND = "eval"
CODEC_COMMAND = "codec"


def main(argv: list[str] | None = None) -> None:
    """Entry point; argv defaults to sys.argv[1:] (LightningCLI reads it itself then, as its launchers expect)."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args[:1] == [DATA_COMMAND]:
            from motioncontent.cli.data import data_main

            data_main(args[1:])
        elif args[:1] == [EVAL_COMMAND]:
            from motioncontent.cli.evaluate import eval_main

            eval_main(args[1:])
        elif args[:1] == [CODEC_COMMAND]:
            from motioncontent.cli.codec import codec_main

            codec_main(args[1:])
        else:
            from motioncontent.cli.lightning_cli import lightning_main

            lightning_main(argv)
    except Exception as error:
        cause = user_error(error)
        if cause is None:
            raise
        print(f"motioncontent: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


def user_error(error: BaseException) -> MotionContentError | None:
    """The MotionContentError behind error, if any: jsonargparse wraps exceptions raised while it instantiates a
    class (e.g. a missing codec checkpoint in the model's constructor) in a ValueError of its own."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MotionContentError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
