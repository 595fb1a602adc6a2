"""LightningModules: thin training systems that compose the plain modules of `models/` (the BCD model, and
later the judge classifier, the motion prior and the frame autoencoder). Each is chosen by `class_path`.
"""

from motioncontent.systems.bcd import BCDModule

__all__ = ["BCDModule"]
