"""Lightning callbacks by concern: codebook usage, bitrate logging, sample grids for TensorBoard."""

from motioncontent.callbacks.bitrate import Bitrate
from motioncontent.callbacks.codebook_usage import CodebookUsage
from motioncontent.callbacks.sample_grid import SampleGrid

__all__ = ["Bitrate", "CodebookUsage", "SampleGrid"]
