"""The real Sprites benchmark, rendered from the LPC layer sheets exactly as SPRITES.md section 3 describes.

Layers are alpha-composited with PIL over opaque black in the order body, bottomwear, topwear, hair, shoes,
then 8 cells per motion are cut from the 13 x 21 grid of 64 x 64 cells. The art is CC-BY-SA 3.0 / GPL 3.0
and is never shipped with the project: users point `lpc_root` (or $SPRITES_LPC) at their own copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from motioncontent.data.sprites.factors import (
    ACTIONS,
    FRAME_SIZE,
    NUM_FRAMES,
    NUM_MOTIONS,
    NUM_OPTIONS,
    character_attributes,
)
from motioncontent.errors import DataError

# Sheet rows of each action, for the directions (front, left, right); SPRITES.md 3.3.
SHEET_ROWS = {"walk": (10, 9, 11), "spellcast": (2, 1, 3), "slash": (14, 13, 15)}
# Sheet columns of output frames 0..7. Walk drops its standing column 0 and moves column 8 first.
SHEET_COLUMNS = {
    "walk": (8, 1, 2, 3, 4, 5, 6, 7),
    "spellcast": (0, 1, 2, 3, 4, 5, 4, 6),
    "slash": (0, 1, 2, 3, 4, 5, 4, 0),
}
# (folder, attribute index in (skin, pants, top, hair) or None for the constant boots), in compositing order.
LAYERS = (("body", 0), ("bottomwear", 1), ("topwear", 2), ("hair", 3), ("shoes", None))
SHOES_FILE = "shoes/1.png"
SHEET_SIZE = (832, 1344)  # PIL (width, height): 13 x 21 cells


def motion_cells() -> list[list[tuple[int, int]]]:
    """(row, column) sheet cells of the 8 frames of each motion D = 3 * action + direction."""
    return [
        [(SHEET_ROWS[action][direction], column) for column in SHEET_COLUMNS[action]]
        for action in ACTIONS
        for direction in range(3)
    ]


def layer_files() -> list[str]:
    """The 25 layer files a complete LPC folder holds, relative to its root."""
    files = [f"{folder}/{option}.png" for folder, index in LAYERS if index is not None for option in range(NUM_OPTIONS)]
    return files + [SHOES_FILE]


def check_lpc_root(root: str | Path) -> Path:
    """Return root as a Path, or raise one clear error saying what is missing and where."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"LPC layer folder '{root}' does not exist; set data.lpc_root or $SPRITES_LPC to the folder that "
            "holds body/ bottomwear/ topwear/ hair/ shoes/ (see README, 'Sprites data')"
        )
    missing = [name for name in layer_files() if not (root / name).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            f"LPC layer folder '{root}' is missing {missing[0]}{more}; it must hold body/0-5.png, "
            "bottomwear/0-5.png, topwear/0-5.png, hair/0-5.png and shoes/1.png"
        )
    return root


def lpc_fingerprint(root: str | Path) -> str:
    """sha256 over the 25 layer files, so a cache built from other art is recognised as stale."""
    digest = hashlib.sha256()
    for name in layer_files():
        digest.update(name.encode())
        digest.update(hashlib.sha256((Path(root) / name).read_bytes()).digest())
    return digest.hexdigest()


class LPCRenderer:
    """Renders all 9 motions of a character from the LPC layer sheets.

    Only the 9 sheet rows the benchmark uses are composited: alpha compositing is per pixel, so compositing
    a stack of the needed rows gives the same pixels as cutting them from the full composite (a test checks
    this against a full sheet), at a third of the work.
    """

    def __init__(self, root: str | Path):
        self.root = check_lpc_root(root)
        self._cells = motion_cells()
        self._rows = sorted({row for motion in self._cells for row, _ in motion})
        self._layers = {name: self._load_rows(name) for name in layer_files()}

    def _load_rows(self, name: str) -> Image.Image:
        sheet = Image.open(self.root / name).convert("RGBA")
        if sheet.size != SHEET_SIZE:
            raise DataError(f"LPC layer '{self.root / name}' is {sheet.size[0]}x{sheet.size[1]}, expected 832x1344")
        strip = Image.new("RGBA", (SHEET_SIZE[0], FRAME_SIZE * len(self._rows)))
        for k, row in enumerate(self._rows):
            strip.paste(sheet.crop((0, row * FRAME_SIZE, SHEET_SIZE[0], (row + 1) * FRAME_SIZE)), (0, k * FRAME_SIZE))
        return strip

    def composite(self, skin: int, pants: int, top: int, hair: int) -> np.ndarray:
        """RGB uint8 strip (rows used, width 832) of one character; full-sheet twin: composite_sheet."""
        options = (skin, pants, top, hair)
        canvas = Image.new("RGBA", self._layers[SHOES_FILE].size, (0, 0, 0, 255))
        for folder, index in LAYERS:
            name = SHOES_FILE if index is None else f"{folder}/{options[index]}.png"
            canvas = Image.alpha_composite(canvas, self._layers[name])
        return np.asarray(canvas.convert("RGB"))

    def render_character(self, character: int) -> np.ndarray:
        """uint8 (9, 8, 64, 64, 3): the 9 motions of one character, D = 3 * action + direction."""
        strip = self.composite(*character_attributes(character))
        out = np.empty((NUM_MOTIONS, NUM_FRAMES, FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
        for d, cells in enumerate(self._cells):
            for t, (row, column) in enumerate(cells):
                y, x = self._rows.index(row) * FRAME_SIZE, column * FRAME_SIZE
                out[d, t] = strip[y : y + FRAME_SIZE, x : x + FRAME_SIZE]
        return out
