"""LightningModules: thin training systems that compose the plain modules of `models/` (the BCD model, the Sprites
judge classifier, the frame autoencoder, the motion prior, and the predictor that `motioncontent predict` runs).
Each is chosen by `class_path`.
"""

from motioncontent.systems.autoencoder import FrameAutoencoderModule
from motioncontent.systems.bcd import BCDModule
from motioncontent.systems.judge import SpritesJudgeModule
from motioncontent.systems.predictor import MotionPredictor
from motioncontent.systems.prior import MotionPriorModule

__all__ = ["BCDModule", "FrameAutoencoderModule", "SpritesJudgeModule", "MotionPredictor", "MotionPriorModule"]
