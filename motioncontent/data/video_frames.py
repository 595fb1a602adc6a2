"""Raw inputs -> the model's frames: a video file, a folder of frame images or a single image, decoded, resampled
to the model's fps and cropped by the talking-head pipeline (video_io, talking_heads/face_crop), as a stream.

Unlike preprocessing (talking_heads/extract.py), which cuts a video into clips where the face is lost, inference
needs every frame of the driving video: one crop per output frame, gaps bridged by interpolation and the ends held
(`track_crops`). Crops:
- `none`: the largest centred square (for inputs that are already face crops, as the sample clips);
- `detect`: mediapipe face boxes (the `faces` extra), smoothed as in preprocessing; a first pass finds the boxes
  (a few numbers per frame), a second decodes and crops, so memory stays that of one frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from motioncontent.data.talking_heads.face_crop import CropSettings, crop_resize, enlarge_box, gaussian_smooth
from motioncontent.data.video_io import IMAGE_EXTENSIONS, VideoError, iter_image_folder, iter_video, probe

Crop = Literal["none", "detect"]


@dataclass(frozen=True)
class FrameSource:
    """A raw input and how to read it: size/fps of the model, crop mode, and frames_fps for image folders."""

    path: Path
    size: int
    fps: float
    crop: Crop = "none"
    frames_fps: float = 25.0
    face: CropSettings = CropSettings()

    @property
    def kind(self) -> str:
        if self.path.is_dir():
            return "frames"
        return "image" if self.path.suffix.lower() in IMAGE_EXTENSIONS else "video"

    def check(self) -> None:
        """Raise VideoError now for a missing or unreadable input (before any model work)."""
        if not self.path.exists():
            raise VideoError(f"no such file: {self.path}")
        if self.kind == "video":
            try:
                probe(self.path)
            except VideoError as error:  # the reason alone ("no video stream") would not say which input it is
                raise VideoError(error if str(self.path) in str(error) else f"{self.path}: {error}") from None
        elif self.kind == "image":
            _read_image(self.path)

    def estimated_frames(self) -> int | None:
        """Frames at the model's fps, from the container's duration (for progress bars; None when unknown)."""
        if self.kind == "image":
            return 1
        if self.kind == "frames":
            from motioncontent.data.video_io import image_files

            return int(np.ceil(len(image_files(self.path)) * self.fps / self.frames_fps))
        info = probe(self.path)
        return int(np.ceil(info.duration * self.fps)) if info.duration else None

    def _decode(self, scale: float) -> Iterator[tuple[int, np.ndarray]]:
        if self.kind == "frames":
            return iter_image_folder(self.path, self.fps, self.frames_fps, scale)
        return iter_video(self.path, self.fps, scale)

    def frames(self) -> Iterator[np.ndarray]:
        """uint8 (size, size, 3) frames at the model's fps; an image gives one frame."""
        if self.kind == "image":
            rgb = _read_image(self.path)
            h, w = rgb.shape[:2]
            yield crop_resize(rgb, w / 2, h / 2, min(w, h), self.size)
            return
        width, height = self._display_size()
        if self.crop == "none":
            side = float(min(width, height))
            scale = min(1.0, 4 * self.size / side)
            for _, rgb in self._decode(scale):
                yield crop_resize(rgb, width / 2, height / 2, side, self.size, scale)
            return
        cx, cy, side = track_crops(self._face_boxes((width, height)), self.fps, self.face)
        scale = min(1.0, 4 * self.size / float(side.min()))
        for k, (_, rgb) in enumerate(self._decode(scale)):
            j = min(k, len(side) - 1)  # the second decode may not give more frames than the first
            yield crop_resize(rgb, cx[j], cy[j], side[j], self.size, scale)

    def _display_size(self) -> tuple[int, int]:
        if self.kind == "frames":
            _, first = next(iter_image_folder(self.path, 1.0, 1.0))
            return first.shape[1], first.shape[0]
        info = probe(self.path)
        return info.width, info.height

    def _face_boxes(self, size: tuple[int, int]) -> np.ndarray:
        from motioncontent.data.talking_heads.face_detect import FaceDetector

        detector, scale = FaceDetector(), min(1.0, 640 / max(size))
        boxes, last_index, last_box = [], -1, None
        try:
            for index, rgb in self._decode(scale):
                if index != last_index:
                    last_box, last_index = detector(rgb), index
                boxes.append(np.full(4, np.nan) if last_box is None else last_box / scale)
        finally:
            detector.close()
        return np.array(boxes).reshape(-1, 4)


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        raise VideoError(f"unreadable image {path} ({error})") from None


def content_clip(frames: list[np.ndarray], count: int) -> np.ndarray:
    """The frames content is read from: `count` frames, a shorter input (a single image) repeated to that length."""
    if not frames:
        raise VideoError("the content source has no frames")
    return np.stack([frames[i % len(frames)] for i in range(count)])


def track_crops(boxes: np.ndarray, fps: float, settings: CropSettings = CropSettings()
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One square crop (cx, cy, side) per frame from boxes (T, 4) with NaN rows where no face was found: gaps are
    interpolated, the ends hold the nearest face, then the centre and the side are smoothed as in preprocessing."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    found = ~np.isnan(boxes).any(axis=1)
    if not found.any():
        raise VideoError(f"no face found in {len(boxes)} frames (use crop none for inputs that are face crops)")
    frames = np.arange(len(boxes))
    filled = np.stack([np.interp(frames, frames[found], boxes[found, j]) for j in range(4)], axis=1)
    cx, cy, side = enlarge_box(filled, settings.increase)
    cx = gaussian_smooth(cx, settings.smooth_seconds * fps)
    cy = gaussian_smooth(cy, settings.smooth_seconds * fps)
    side = gaussian_smooth(side, settings.scale_smooth_seconds * fps)
    return cx, cy + settings.offset_y * side, side


__all__ = ["Crop", "FrameSource", "content_clip", "track_crops"]
