"""LightningModules: thin training systems that compose the plain modules of `models/` (the BCD model, the Sprites
and talking-head judges, the frame autoencoder, the motion prior, and the predictor that `motioncontent predict` runs).
Each is chosen by `class_path`.
"""

from motioncontent.systems.autoencoder import FrameAutoencoderModule
from motioncontent.systems.bcd import BCDModule
from motioncontent.systems.judge import SpritesJudgeModule
from motioncontent.systems.predictor import MotionPredictor
from motioncontent.systems.prior import MotionPriorModule
from motioncontent.systems.talking_head_judge import TalkingHeadJudgeModule

__all__ = ["BCDModule", "FrameAutoencoderModule", "SpritesJudgeModule", "MotionPredictor", "MotionPriorModule",
           "TalkingHeadJudgeModule"]
