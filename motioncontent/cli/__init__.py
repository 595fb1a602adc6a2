"""The `motioncontent` command: LightningCLI's fit/validate/test/predict, plus `data` and `eval` groups.

    motioncontent fit --config configs/sprites.yaml          # Lightning subcommands (cli/lightning_cli.py)
    motioncontent data sprites --config configs/sprites.yaml # dataset build/inspect (cli/data.py)
    motioncontent data talking-heads --src VIDEOS --dst DIR  # preprocess your own talking-head videos
    motioncontent eval sprites --config ... --ckpt_path CKPT # swap accuracies, probes (cli/evaluate.py)
    motioncontent codec encode VIDEO FILE --ckpt BCD.ckpt    # motion bitstream encode/decode (cli/codec.py)

Errors the user can fix end the program with one line `motioncontent: error: ...` on stderr and exit code 2, without
a traceback: MotionContentError (raised by the project's own checks, also when jsonargparse wraps it while building
a class), usage errors (the parsers' OneLineErrors), and OSErrors (a file missing, unreadable or unwritable at the
moment it is used, a full disk). Set MOTIONCONTENT_DEBUG=1 to get the traceback instead.
"""

from __future__ import annotations

import logging
import os
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
        message = user_error(error)
        if message is None or os.environ.get("MOTIONCONTENT_DEBUG"):
            raise
        from motioncontent.cli.subcommands import exit_with_error

        exit_with_error(message)


def user_error(error: BaseException) -> str | None:
    """The one-line message for an error the user can fix, None for anything else (a bug: its traceback is shown).

    Walks the exception's causes: jsonargparse wraps exceptions raised while it instantiates a class (e.g. a missing
    codec checkpoint in the model's constructor) in a ValueError of its own."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MotionContentError):
            return str(seen)
        if isinstance(seen, OSError):
            return os_error_message(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def os_error_message(error: OSError) -> str:
    """`path: reason` for an OSError with a file name, else its text."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__
