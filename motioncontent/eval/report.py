"""Evaluation reports: a JSON of every figure, a markdown table for people, TensorBoard scalars for dashboards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from motioncontent.callbacks.media import save_atomic


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested dict -> {"a/b": number} for every numeric leaf."""
    out: dict[str, float] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def markdown_table(rows: list[tuple[str, str, str]], header: tuple[str, str, str]) -> str:
    lines = [f"| {' | '.join(header)} |", f"|{'|'.join('---' for _ in header)}|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, name: str, figures: dict[str, Any], markdown: str) -> list[Path]:
    """<out_dir>/<name>.json and <name>.md, each written atomically."""
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    save_atomic(json_path, (json.dumps(figures, indent=2, sort_keys=True) + "\n").encode())
    save_atomic(md_path, markdown.encode())
    return [json_path, md_path]


def log_scalars(log_dir: Path, figures: dict[str, Any], step: int = 0) -> None:
    """Every numeric figure as a TensorBoard scalar under `log_dir` (shown by `make tensorboard`)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(log_dir))
    for tag, value in flatten(figures).items():
        writer.add_scalar(tag, value, step)
    writer.close()


__all__ = ["flatten", "log_scalars", "markdown_table", "write_report"]
