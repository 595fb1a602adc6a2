"""The `motioncontent` command: LightningCLI's fit/validate/test/predict, plus `data` and `eval` groups.

    motioncontent fit --config configs/sprites.yaml          # Lightning subcommands (cli/lightning_cli.py)
    motioncontent data sprites --config configs/sprites.yaml # dataset build/inspect (cli/data.py)
    motioncontent data talking-heads --src VIDEOS --dst DIR  # preprocess your own talking-head videos
    motioncontent eval sprites --config ... --ckpt_path CKPT # swap accuracies, probes (cli/evaluate.py)

Errors the user can fix (MotionContentError) end the program with one line and exit code 2.
"""

from __future__ import annotations

import logging
import sys

from motioncontent.errors import MotionContentError

DATA_COMMAND = "data"
EVAL_COMMAND = "eval"


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
        else:
            from motioncontent.cli.lightning_cli import lightning_main

            lightning_main(argv)
    except MotionContentError as error:
        print(f"motioncontent: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
