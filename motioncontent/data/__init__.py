"""Data: LightningDataModules, their datasets and sources, dataset caches, and (later) video I/O.

- sprites_datamodule.py: SpritesDataModule (LPC benchmark, procedural sprites, standard arrays)
- sprites/: the Sprites factor structure and its sources (lpc.py, procedural.py, arrays.py)
- cache.py: verified, atomically written dataset caches with a manifest
- transforms.py: the uint8 <-> [-1, 1] pixel convention
"""

from motioncontent.data.sprites_datamodule import SpritesDataModule

__all__ = ["SpritesDataModule"]
