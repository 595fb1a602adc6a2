"""The sidecar box file of `--crop box`: face boxes you already have (from another detector, or by hand).

Format: CSV next to the clip, `clip.mp4` -> `clip.boxes.csv` (a frame folder `clip/` -> `clip.boxes.csv`), in
upright display pixels of the source:

    frame,left,top,right,bottom
    0,212,80,390,290
    1,213,81,391,290

- `frame` is the index of the decoded source frame (before resampling to the target fps). Frames without a row,
  or with an empty or zero-size box, count as "no face" (the same gap and cut rules as detection apply).
- A file with a single row is one fixed box for every frame (as HDTF's per-clip crop windows).
- The bbox files of the vox-256 scripts also work: header `LEFT,TOP,RIGHT,BOT`, one row per frame in order.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from motioncontent.data.video_io import VideoError

_COLUMNS = {"left": ("left",), "top": ("top",), "right": ("right",), "bottom": ("bottom", "bot")}


class BoxTable:
    """Source-frame index -> box (left, top, right, bottom) or None."""

    def __init__(self, rows: dict[int, np.ndarray], fixed: bool):
        self.rows, self.fixed = rows, fixed

    def __call__(self, frame: int) -> np.ndarray | None:
        if self.fixed:
            return next(iter(self.rows.values()))
        return self.rows.get(frame)


def _column(header: list[str], names: tuple[str, ...]) -> int:
    for i, name in enumerate(header):
        if name.strip().lower() in names:
            return i
    raise VideoError(f"box file has no {names[0]} column (header: {','.join(header)})")


def read_boxes(path: Path) -> BoxTable:
    """Parse a sidecar box file; raises VideoError (the input is then skipped with that reason)."""
    if not path.is_file():
        raise VideoError(f"no box file {path.name} (needed by --crop box)")
    try:
        with path.open(newline="") as f:
            table = [row for row in csv.reader(f) if row and not row[0].lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise VideoError(f"unreadable box file {path.name} ({error})") from None
    if len(table) < 2:
        raise VideoError(f"box file {path.name} has no rows")
    header, body = table[0], table[1:]
    columns = [_column(header, names) for names in _COLUMNS.values()]
    frame_column = next((i for i, n in enumerate(header) if n.strip().lower() == "frame"), None)
    rows: dict[int, np.ndarray] = {}
    for line, row in enumerate(body, start=2):
        try:
            frame = int(row[frame_column]) if frame_column is not None else line - 2
            box = np.array([float(row[c]) if row[c].strip() else np.nan for c in columns])
        except (ValueError, IndexError):
            raise VideoError(f"box file {path.name}, line {line}: expected numbers, got {','.join(row)}") from None
        if np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1]:
            rows[frame] = box
    if not rows:
        raise VideoError(f"box file {path.name} has no non-empty box")
    return BoxTable(rows, fixed=len(body) == 1)
