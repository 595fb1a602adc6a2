"""Lightning callbacks by concern: codebook usage, bitrate logging, sample grids for TensorBoard, content partners mined
part-way through training, stopping on a non-finite gradient, returning freed heap memory to the system, atomic and
resumable checkpoints, and the prediction writer of `motioncontent predict` (mp4 files and a JSON of the run)."""

from motioncontent.callbacks.bitrate import Bitrate
from motioncontent.callbacks.checkpointing import AtomicCheckpointIO, CorruptCheckpointError, ResumableCheckpoint
from motioncontent.callbacks.codebook_usage import CodebookUsage
from motioncontent.callbacks.content_partners import MineContentPartners
from motioncontent.callbacks.finite_guard import NonFiniteError, StopOnNonFinite
from motioncontent.callbacks.release_memory import ReleaseFreedMemory
from motioncontent.callbacks.sample_grid import SampleGrid
from motioncontent.callbacks.video_writer import PredictionVideoWriter

__all__ = ["AtomicCheckpointIO", "Bitrate", "CodebookUsage", "CorruptCheckpointError", "MineContentPartners",
           "NonFiniteError", "PredictionVideoWriter", "ReleaseFreedMemory", "ResumableCheckpoint", "SampleGrid",
           "StopOnNonFinite"]
