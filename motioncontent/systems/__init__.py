"""LightningModules: thin training systems that compose the plain modules of `models/` (the BCD model, the Sprites
judge classifier, and later the motion prior and the frame autoencoder). Each is chosen by `class_path`.
"""

from motioncontent.systems.bcd import BCDModule
from motioncontent.systems.judge import SpritesJudgeModule

__all__ = ["BCDModule", "SpritesJudgeModule"]
