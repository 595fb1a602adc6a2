"""`motioncontent data ...`: build, verify and look at datasets without training.

    motioncontent data sprites --config configs/sprites.yaml [--data.init_args.source=lpc] [--preview grid.png]
                               [--export_npy DIR]

It reads the same run configs as `fit` (only their `data` section), so what it builds is what training uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from jsonargparse import ArgumentParser

from motioncontent.cli.subcommands import SPRITES_DATAMODULE, dispatch, run_config_parser
from motioncontent.errors import MotionContentError


def _sprites_parser() -> ArgumentParser:
    parser = run_config_parser("motioncontent data sprites",
                               "Build (or verify) the Sprites cache and print what it holds.")
    parser.add_argument("--preview", type=Optional[str], default=None,
                        help="write a PNG grid: one row per motion of the first test character, one column per frame")
    parser.add_argument("--export_npy", type=Optional[str], default=None,
                        help="also write the standard float32 arrays sprites_{X,A,D}_{train,test}.npy to this folder")
    return parser


def sprites_command(argv: list[str]) -> None:
    from motioncontent.data.sprites import arrays
    from motioncontent.data.sprites_datamodule import SpritesDataModule

    parser = _sprites_parser()
    cfg = parser.parse_args(argv)
    datamodule = parser.instantiate_classes(cfg).data
    if not isinstance(datamodule, SpritesDataModule):
        raise MotionContentError(f"'data sprites' needs {SPRITES_DATAMODULE}, the config gives {type(datamodule).__name__}")
    datamodule.prepare_data()
    datamodule.setup("fit")
    print(datamodule.summary())
    if cfg.preview:
        write_preview(datamodule, cfg.preview)
        print(f"preview: {cfg.preview}")
    if cfg.export_npy:
        for path in arrays.export_standard_arrays(datamodule.cache_dir, Path(cfg.export_npy)):
            print(f"wrote {path}")


def write_preview(datamodule: Any, path: str, scale: int = 2) -> None:
    """PNG of the 9 motions (rows) x 8 frames (columns) of the first test character; atomic."""
    from motioncontent.callbacks.media import png_bytes, save_atomic
    from motioncontent.data.transforms import signed_to_uint8

    dataset = datamodule.test_set
    first = dataset.labels["character"][dataset.indices[0]]
    rows = [k for k in range(len(dataset)) if dataset.labels["character"][dataset.indices[k]] == first]
    rows.sort(key=lambda k: dataset.labels["motion"][dataset.indices[k]])
    frames = [signed_to_uint8(dataset[k][0]).permute(0, 2, 3, 1).numpy() for k in rows]  # each (T, H, W, C)
    grid = np.concatenate([np.concatenate(list(clip), axis=1) for clip in frames], axis=0)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)  # nearest-neighbour upscaling keeps the pixel art crisp
    save_atomic(Path(path), png_bytes(grid))


COMMANDS = {"sprites": sprites_command}


def data_main(argv: list[str]) -> None:
    dispatch("data", COMMANDS, __doc__ or "", argv)
