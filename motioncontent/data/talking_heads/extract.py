"""One input -> its face clips: the per-video half of preprocessing (preprocess.py runs it over a folder).

Pass A decodes small frames to find the face (mediapipe, face_detect.py) or reads the sidecar boxes (boxes.py);
face_crop.plan_segments turns the boxes into smooth square crops per segment; pass B decodes again at a scale
just large enough for the output and writes each segment as a uint8 .npy clip under a temporary name (the caller
renames them once the whole input succeeded). The `none` crop needs no pass A.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from motioncontent.data.talking_heads.boxes import read_boxes
from motioncontent.data.talking_heads.face_crop import CropSettings, Segment, centre_segment, crop_resize, plan_segments
from motioncontent.data.talking_heads.sources import InputItem
from motioncontent.data.video_io import VideoError, iter_image_folder, iter_video, probe

PREPROCESS_VERSION = 1  # bump when the output of the same recipe changes; finished inputs are then redone
TMP_MARK = ".tmp-"  # files being written: .tmp-<pid>-<final name>
CropMode = Literal["none", "box", "detect"]


@dataclass(frozen=True)
class PreprocessSettings:
    """Everything that changes the pixels written; it is the cache's recipe.

    Args:
        fps: output frame rate (25 as VoxCeleb, LRS3 and BCD). size: output side in pixels (64, 128, 256, ...).
        crop: `none` (largest centred square), `box` (sidecar box files, see boxes.py) or `detect` (mediapipe).
        clip_len: clips shorter than this many frames are dropped (use the training window, num_frames).
        max_clip_frames: longer segments are split into equal clips of at most this many frames (bounds memory).
        frames_fps: the frame rate of folders of frame images (they carry no timestamps).
        detector_model / min_confidence / detect_size: mediapipe model (0 short range, 1 full range), score
            threshold, and the longest side frames are scaled to for detection.
        face: box enlargement, smoothing, gap and cut rules (face_crop.CropSettings).
    """

    fps: float = 25.0
    size: int = 64
    crop: CropMode = "detect"
    clip_len: int = 16
    max_clip_frames: int = 1024
    frames_fps: float = 25.0
    detector_model: int = 1
    min_confidence: float = 0.5
    detect_size: int = 640
    face: CropSettings = field(default_factory=CropSettings)

    def recipe(self) -> dict[str, Any]:
        recipe = {"version": PREPROCESS_VERSION, **asdict(self)}
        if self.crop != "detect":  # detector settings do not change the pixels then
            for name in ("detector_model", "min_confidence", "detect_size"):
                recipe.pop(name)
        if self.crop == "none":
            recipe.pop("face")
        return recipe


# ---- one input ------------------------------------------------------------------------------------------------
def _frames(item: InputItem, settings: PreprocessSettings, scale: float) -> Iterator[tuple[int, np.ndarray]]:
    if item.kind == "frames":
        return iter_image_folder(item.path, settings.fps, settings.frames_fps, scale)
    return iter_video(item.path, settings.fps, scale)


def _display_size(item: InputItem) -> tuple[int, int]:
    if item.kind == "frames":
        _, first = next(iter_image_folder(item.path, 1.0, 1.0))
        return first.shape[1], first.shape[0]
    info = probe(item.path)
    return info.width, info.height


_detector: tuple[tuple[int, float], Any] | None = None  # one per process: building mediapipe's graph takes time


def _get_detector(settings: PreprocessSettings) -> Any:
    global _detector
    key = (settings.detector_model, settings.min_confidence)
    if _detector is None or _detector[0] != key:
        from motioncontent.data.talking_heads.face_detect import FaceDetector

        _detector = (key, FaceDetector(*key))
    _detector[1].reset()
    return _detector[1]


def find_boxes(item: InputItem, settings: PreprocessSettings, size: tuple[int, int]) -> np.ndarray:
    """Pass A: one face box per output frame (N, 4) in display pixels, NaN where there is none."""
    boxes: list[np.ndarray | None] = []
    if settings.crop == "box":
        table = read_boxes(item.boxes_file)
        # Only the source index of each output frame is needed: decode tiny frames.
        for index, _ in _frames(item, settings, scale=min(1.0, 32 / max(size))):
            boxes.append(table(index))
    else:
        detector = _get_detector(settings)
        scale = min(1.0, settings.detect_size / max(size))
        last_index, last_box = -1, None
        for index, rgb in _frames(item, settings, scale):
            if index != last_index:  # a repeated source frame (upsampling) is detected once
                last_box = detector(rgb)
                last_index = index
            boxes.append(None if last_box is None else last_box / scale)
    return np.array([b if b is not None else np.full(4, np.nan) for b in boxes]).reshape(-1, 4)


def _split(segment: Segment, max_frames: int) -> list[Segment]:
    """Equal parts of at most max_frames frames."""
    parts = -(-len(segment) // max_frames)
    bounds = np.linspace(0, len(segment), parts + 1).round().astype(int)
    return [Segment(segment.start + a, segment.start + b, segment.cx[a:b], segment.cy[a:b], segment.side[a:b])
            for a, b in zip(bounds[:-1], bounds[1:])]


def _save_tmp(directory: Path, name: str, array: np.ndarray) -> Path:
    tmp = directory / f"{TMP_MARK}{os.getpid()}-{name}"
    with open(tmp, "wb") as f:
        np.save(f, array)
    return tmp


def _write_clips(item: InputItem, settings: PreprocessSettings, segments: list[Segment], size: tuple[int, int],
                 clips_dir: Path) -> list[tuple[Path, Segment]]:
    """Pass B: decode at a reduced scale (4x the output size is plenty for an anti-aliased resize), crop, save."""
    scale = min(1.0, 4 * settings.size / float(min(s.side.min() for s in segments)))
    written: list[tuple[Path, Segment]] = []
    position, buffer, k = 0, None, -1
    for k, (_, rgb) in enumerate(_frames(item, settings, scale)):
        while position < len(segments) and k >= segments[position].stop:
            position += 1
        if position == len(segments):
            break
        seg = segments[position]
        if k < seg.start:
            continue
        if buffer is None:
            buffer = np.empty((len(seg), settings.size, settings.size, 3), np.uint8)
        j = k - seg.start
        buffer[j] = crop_resize(rgb, seg.cx[j], seg.cy[j], seg.side[j], settings.size, scale)
        if j == len(seg) - 1:
            written.append((_save_tmp(clips_dir, f"{item.key}-{len(written)}.npy", buffer), seg))
            buffer = None
    if len(written) != len(segments):  # the second decode gave fewer frames than the first
        raise VideoError(f"the video decoded to fewer frames on a second pass ({k + 1})")
    return written


def _write_centre_clips(item: InputItem, settings: PreprocessSettings, size: tuple[int, int],
                        clips_dir: Path) -> tuple[int, list[tuple[Path, Segment]]]:
    """The `none` crop in one pass: the frame count is only known at the end, so up to 2 x max_clip_frames
    frames are buffered and a full clip is written whenever the buffer fills; the rest is split evenly."""
    side = float(min(size))
    scale = min(1.0, 4 * settings.size / side)
    buffer: list[np.ndarray] = []
    written: list[tuple[Path, Segment]] = []
    frames = 0

    def save(count: int) -> None:
        seg = centre_segment(count, *size)
        seg.start, seg.stop = frames - len(buffer), frames - len(buffer) + count
        written.append((_save_tmp(clips_dir, f"{item.key}-{len(written)}.npy", np.stack(buffer[:count])), seg))
        del buffer[:count]

    for _, rgb in _frames(item, settings, scale):
        buffer.append(crop_resize(rgb, size[0] / 2, size[1] / 2, side, settings.size, scale))
        frames += 1
        if len(buffer) == 2 * settings.max_clip_frames:
            save(settings.max_clip_frames)
    if frames < settings.clip_len:
        raise VideoError(f"too short: {frames} frames at {settings.fps:g} fps, clips need {settings.clip_len}")
    if len(buffer) > settings.max_clip_frames:
        save(len(buffer) // 2)
    if len(buffer) >= settings.clip_len or not written:
        save(len(buffer))
    return frames, written


def process_input(item: InputItem, settings: PreprocessSettings, dst: Path) -> dict[str, Any]:
    """Process one input into dst/clips; returns its record (written by the caller). Raises VideoError to skip."""
    started = time.time()
    size = _display_size(item)
    clips_dir = dst / "clips"
    lost = 0
    if settings.crop == "none":
        frames, written = _write_centre_clips(item, settings, size, clips_dir)
    else:
        boxes = find_boxes(item, settings, size)
        frames = len(boxes)
        lost = int(np.isnan(boxes[:, 0]).sum())
        if frames < settings.clip_len:
            raise VideoError(f"too short: {frames} frames at {settings.fps:g} fps, clips need {settings.clip_len}")
        segments = plan_segments(boxes, settings.fps, settings.face)
        if not segments:
            raise VideoError(f"no face found in {frames} frames")
        parts = [p for s in segments for p in _split(s, settings.max_clip_frames)]
        kept = [p for p in parts if len(p) >= settings.clip_len]
        if not kept:
            raise VideoError(f"no stretch of {settings.clip_len} frames with a face (longest "
                             f"{max(len(p) for p in parts)} of {frames} frames; {lost} frames without a face)")
        written = _write_clips(item, settings, kept, size, clips_dir)
    clips = []
    for j, (tmp, seg) in enumerate(written):
        final = clips_dir / f"{item.key}-{j}.npy"
        os.replace(tmp, final)
        clips.append({"file": f"clips/{final.name}", "frames": len(seg), "start": int(seg.start),
                      "crop_side": round(float(np.median(seg.side)), 1), "bytes": final.stat().st_size})
    return {"clips": clips, "frames": frames, "frames_without_face": lost, "source_size": list(size),
            "seconds": round(time.time() - started, 2)}
