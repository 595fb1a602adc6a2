"""Pieces shared by the command groups that are not LightningCLI (`data`, `eval`): a parser that reads the same
run configs as `fit`, and the dispatch from a group's first word to its command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Optional

from jsonargparse import ActionConfigFile, ArgumentParser
from lightning.pytorch import LightningDataModule

# Top-level keys of a LightningCLI run config that these commands accept and, unless they say so, ignore.
RUN_CONFIG_KEYS = ("seed_everything", "trainer", "model", "optimizer", "lr_scheduler", "ckpt_path", "weights_only")
SPRITES_DATAMODULE = "motioncontent.data.SpritesDataModule"


def run_config_parser(prog: str, description: str, used: tuple[str, ...] = ()) -> ArgumentParser:
    """A parser that reads LightningCLI run configs for their `data` section (plus the `used` top-level keys,
    which the caller adds) and accepts every other run-config key without using it."""
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="run config(s); only the data section is used")
    parser.add_subclass_arguments(LightningDataModule, "data", default={"class_path": SPRITES_DATAMODULE})
    for key in RUN_CONFIG_KEYS:
        if key not in used:
            parser.add_argument(f"--{key}", type=Optional[Any], default=None, help="(ignored: read by fit)")
    return parser


def dispatch(group: str, commands: dict[str, Callable[[list[str]], None]], doc: str, argv: list[str]) -> None:
    """Run `motioncontent <group> <command> ...`; usage on stderr and exit 2 for an unknown command."""
    names = ", ".join(commands)
    if not argv or argv[0] not in commands:
        if argv[:1] in (["-h"], ["--help"]):
            print(f"usage: motioncontent {group} {{{names}}} [--help]\n\n{doc}")
            return
        print(f"usage: motioncontent {group} {{{names}}} [--help]", file=sys.stderr)
        raise SystemExit(2)
    commands[argv[0]](argv[1:])
