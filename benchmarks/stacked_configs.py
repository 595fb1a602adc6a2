"""Config files stacked as on the command line (`--config a.yaml --config b.yaml`), for the benchmark scripts.

A later file's keys win inside each section's init_args, as LightningCLI merges them. Plain YAML rather than the CLI
parser: the scripts build their modules by hand and need only a few sections.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def merged_section(paths: list[str], section: str, key: str | None = "init_args") -> dict:
    """The `section` (its `key`, e.g. init_args, or the section itself when key is None) of every file, later
    files winning; paths are relative to the repository root unless absolute."""
    out: dict = {}
    for path in paths:
        part = (yaml.safe_load((REPO / path).read_text()) or {}).get(section) or {}
        out.update((part.get(key) or {}) if key else part)
    return out


def model_args(paths: list[str], overrides: list[str] = ()) -> dict:
    """BCDModule's init_args of the stack, then `KEY=VALUE` overrides (each value read as YAML)."""
    args = merged_section(paths, "model")
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set expects KEY=VALUE, got '{item}'")
        args[name] = yaml.safe_load(value)
    return args
