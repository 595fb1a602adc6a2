"""Data: LightningDataModules, their datasets and sources, dataset caches, and video I/O.

- sprites_datamodule.py: SpritesDataModule (LPC benchmark, procedural sprites, standard arrays)
- sprites/: the Sprites factor structure and its sources (lpc.py, procedural.py, arrays.py)
- talking_heads_datamodule.py: TalkingHeadDataModule (synthetic faces, or your own videos)
- talking_heads/: talking-head preprocessing (face crops, clip cache) and the synthetic faces
- video_io.py: PyAV decoding resampled to a target fps, frame folders, writing (whole or streamed)
- video_frames.py: raw inputs (video, frame folder, image) -> the model's cropped frames, as a stream
- predict_datamodule.py: PredictDataModule, the windows `motioncontent predict` runs on
- loaders.py: ClipLoaders, the train/val/test/predict DataLoaders both DataModules hand to Lightning
- cache.py: verified, atomically written dataset caches with a manifest
- latent_cache.py: TalkingHeadLatentDataModule, talking-head training clips encoded once by a frozen frame codec
- transforms.py: the uint8 <-> [-1, 1] pixel convention
- procedural_images.py: dead-leaves images with natural-image statistics, mixed into a frame codec's training
"""

from motioncontent.data.latent_cache import TalkingHeadLatentDataModule
from motioncontent.data.predict_datamodule import PredictDataModule, PredictJob
from motioncontent.data.sprites_datamodule import SpritesDataModule
from motioncontent.data.talking_heads_datamodule import TalkingHeadDataModule

__all__ = ["PredictDataModule", "PredictJob", "SpritesDataModule", "TalkingHeadDataModule", "TalkingHeadLatentDataModule"]
