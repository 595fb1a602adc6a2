"""Pieces shared by the command groups: a parser that reads the same run configs as `fit`, usage errors as one
line, checks of output folders, and the dispatch from a group's first word to its command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Optional

from jsonargparse import ActionConfigFile, ArgumentParser
from lightning.pytorch import LightningDataModule

from motioncontent.errors import MotionContentError, check_writable_dir, check_writable_file  # noqa: F401 (re-exported)

# Top-level keys of a LightningCLI run config that these commands accept and, unless they say so, ignore.
RUN_CONFIG_KEYS = ("seed_everything", "trainer", "model", "optimizer", "lr_scheduler", "ckpt_path", "weights_only")
SPRITES_DATAMODULE = "motioncontent.data.SpritesDataModule"


ERROR_PREFIX = "motioncontent: error: "
MAX_ERROR_CHARS = 400  # a long jsonargparse message (every type a value failed to match) is cut, not wrapped


def one_line(message: str) -> str:
    """A (possibly multi-line, indented) message as one line of at most MAX_ERROR_CHARS characters."""
    text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def exit_with_error(message: str, prog: str | None = None) -> NoReturn:
    """Print `motioncontent: error: ...` (one line) on stderr and exit 2: the usage-error convention of argparse."""
    hint = f" (see `{prog} --help`)" if prog else ""
    print(f"{ERROR_PREFIX}{one_line(message)}{hint}", file=sys.stderr)
    raise SystemExit(2)


class OneLineErrors:
    """Mixin for jsonargparse parsers: a usage error (unknown key, bad value, missing config file) ends with one
    line on stderr and exit 2, instead of the whole usage block and a multi-line message.

    Parsers that do not exit on errors (jsonargparse's nested ones, which raise and let the caller decide) and
    JSONARGPARSE_DEBUG keep jsonargparse's behaviour."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not getattr(self, "exit_on_error", True) or os.environ.get("JSONARGPARSE_DEBUG"):
            super().error(message, ex)  # type: ignore[misc]
        parser = getattr(ex, "subcommand_parser", None) or self
        exit_with_error(message, str(getattr(parser, "prog", "motioncontent")).replace(" [options]", ""))


class Parser(OneLineErrors, ArgumentParser):
    """jsonargparse's ArgumentParser with one-line usage errors."""


class PlainParser(argparse.ArgumentParser):
    """argparse's ArgumentParser with one-line usage errors (for commands that pass unknown arguments on)."""

    def error(self, message: str) -> NoReturn:
        exit_with_error(message, self.prog)


def run_config_parser(prog: str, description: str, used: tuple[str, ...] = (),
                      datamodule: str = SPRITES_DATAMODULE) -> ArgumentParser:
    """A parser that reads LightningCLI run configs for their `data` section (plus the `used` top-level keys,
    which the caller adds) and accepts every other run-config key without using it.

    `datamodule` is the data class when no config names one. It must be the class the command's configs use:
    jsonargparse keeps the default class's init_args that a config's other class shares, so a Sprites default
    would give a talking-head config Sprites' split_seed (423, not 0) and another set of test people."""
    parser = Parser(prog=prog, description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="run config(s); only the data section is used")
    parser.add_subclass_arguments(LightningDataModule, "data", default={"class_path": datamodule})
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
