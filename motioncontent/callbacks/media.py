"""Images and animations for TensorBoard and the run folder.

TensorBoard's add_video needs moviepy<2 and silently logs nothing without it (ECOSYSTEM.md 5), so animations
are written as GIFs through Pillow and logged as image summaries, which the Images tab plays.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def gif_bytes(frames: np.ndarray, fps: float = 8.0) -> bytes:
    """frames uint8 (T, H, W, 3) -> an endlessly looping GIF."""
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return buffer.getvalue()


def log_gif(logger: object, tag: str, frames: np.ndarray, step: int, fps: float = 8.0) -> bool:
    """Log an animated GIF to a TensorBoardLogger; False when the logger is not TensorBoard."""
    writer = getattr(logger, "experiment", None)
    if writer is None or not hasattr(writer, "_get_file_writer"):
        return False
    from tensorboard.compat.proto.summary_pb2 import Summary

    _, h, w, _ = frames.shape
    image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=gif_bytes(frames, fps))
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
    return True


def log_image(logger: object, tag: str, image: np.ndarray, step: int) -> bool:
    """Log a uint8 (H, W, 3) or float (H, W) in [0, 1] image to a TensorBoardLogger."""
    writer = getattr(logger, "experiment", None)
    if writer is None or not hasattr(writer, "add_image"):
        return False
    writer.add_image(tag, image, step, dataformats="HWC" if image.ndim == 3 else "HW")
    return True


def save_atomic(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name, then rename, so readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
