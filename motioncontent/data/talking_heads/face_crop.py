"""Square face crops that neither jitter nor pulse: box enlargement, gap filling, cuts, smoothing, crop + resize.

Input: one face box per output frame, (left, top, right, bottom) in upright display pixels, NaN where no face
was found. Output: segments of consecutive frames, each with a square crop (centre x, centre y, side) per frame.

- Enlargement follows the vox-256 recipe (AliaksandrSiarohin/video-preprocessing, util.py
  `compute_aspect_preserved_bbox`): each side grows by `increase` times its length on both ends and the shorter
  side grows further to make a square, so side = (1 + 2 * increase) * max(width, height), centred on the box.
  With the default 0.1 that is 1.2x the detector box. (TALKING_HEADS.md words this as "10% of its area"; the code
  grows each side by 10% of its length at each end.)
- Gaps where the face is lost for at most `max_gap_seconds` are filled by linear interpolation; a longer gap, or
  a jump between consecutive boxes (IoU below `cut_iou`, a shot change or another person), ends the segment.
- Smoothing (`track="smooth"`, default): a zero-phase Gaussian filter over each segment, sigma
  `smooth_seconds` for the centre and the longer `scale_smooth_seconds` for the side. Preprocessing is offline,
  so a symmetric filter can look ahead: it has no lag, unlike the causal filters made for live video (EMA, the
  one-euro filter), which trail a moving head. Scale gets the heavier filter because head size changes slowly
  and a pulsing head size is the most visible artefact (TALKING_HEADS.md section 4).
- `track="tube"` is the vox-256 recipe instead: one fixed box per chunk, the union of its boxes, with a new chunk
  when the IoU with the chunk's first box falls under `cut_iou` (0.25 in vox) or after `tube_max_frames` (1024).
- A crop larger than the frame is shrunk to the frame's shorter side, and a crop over an edge is shifted inside,
  so crops never need padding (vox drops such clips; here they are kept, a little tighter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Track = Literal["smooth", "tube"]


@dataclass(frozen=True)
class CropSettings:
    """How face boxes become crops; see the module docstring for the reasoning behind each default."""

    increase: float = 0.1
    track: Track = "smooth"
    smooth_seconds: float = 0.2
    scale_smooth_seconds: float = 1.0
    max_gap_seconds: float = 0.5
    cut_iou: float = 0.25
    tube_max_frames: int = 1024
    offset_y: float = 0.0  # shift of the crop centre, in crop sides (LivePortrait uses -0.1 for driving videos)


@dataclass
class Segment:
    """Output frames [start, stop) of one video, with the square crop of each frame in display pixels."""

    start: int
    stop: int
    cx: np.ndarray
    cy: np.ndarray
    side: np.ndarray

    def __len__(self) -> int:
        return self.stop - self.start


# ---- small helpers ------------------------------------------------------------------------------------------
def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def enlarge_box(boxes: np.ndarray, increase: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cx, cy, side) of the vox-256 square around each (left, top, right, bottom) row of boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    side = (1 + 2 * increase) * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return cx, cy, side


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian filter of a 1-D series. The ends are padded by odd reflection (2 x[0] - x[k]), which
    continues a steady motion past the end, so a moving head is not pulled back near a clip's first and last
    frames (padding with the end value would lag by up to 2 sigma of motion there)."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, (radius, radius), mode="reflect", reflect_type="odd")
    return np.convolve(padded, kernel, mode="valid")


def _runs(found: np.ndarray, boxes: np.ndarray, max_gap: int, cut_iou: float) -> list[tuple[int, int]]:
    """[start, stop) runs of frames that begin and end with a face, bridging gaps of at most max_gap frames and
    cutting where consecutive found boxes jump (IoU < cut_iou)."""
    runs: list[tuple[int, int]] = []
    start = last = None
    for i in np.flatnonzero(found):
        if last is not None and (i - last - 1 > max_gap or box_iou(boxes[last], boxes[i]) < cut_iou):
            runs.append((start, last + 1))
            start = None
        if start is None:
            start = i
        last = i
    if start is not None and last is not None:
        runs.append((start, last + 1))
    return runs


def _fill_gaps(boxes: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN rows (a run starts and ends with a face, so both ends are known)."""
    filled = boxes.copy()
    known = ~np.isnan(boxes[:, 0])
    if not known.all():
        frames = np.arange(len(boxes))
        for j in range(4):
            filled[:, j] = np.interp(frames, frames[known], boxes[known, j])
    return filled


def _tube_chunks(boxes: np.ndarray, cut_iou: float, max_frames: int) -> list[tuple[int, int]]:
    chunks, first = [], 0
    for i in range(1, len(boxes)):
        if box_iou(boxes[first], boxes[i]) < cut_iou or i - first >= max_frames:
            chunks.append((first, i))
            first = i
    chunks.append((first, len(boxes)))
    return chunks


# ---- tracking -----------------------------------------------------------------------------------------------
def plan_segments(boxes: np.ndarray, fps: float, settings: CropSettings = CropSettings()) -> list[Segment]:
    """Segments with per-frame square crops from per-frame boxes (N, 4), NaN rows where no face was found."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    found = ~np.isnan(boxes).any(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes = np.where(found[:, None], boxes, np.nan)
    max_gap = int(round(settings.max_gap_seconds * fps))
    segments = []
    for start, stop in _runs(found, boxes, max_gap, settings.cut_iou):
        run = _fill_gaps(boxes[start:stop])
        if settings.track == "tube":
            for a, b in _tube_chunks(run, settings.cut_iou, settings.tube_max_frames):
                union = np.array([run[a:b, 0].min(), run[a:b, 1].min(), run[a:b, 2].max(), run[a:b, 3].max()])
                cx, cy, side = (np.full(b - a, v[0]) for v in enlarge_box(union, settings.increase))
                segments.append(Segment(start + a, start + b, cx, cy + settings.offset_y * side, side))
            continue
        cx, cy, side = enlarge_box(run, settings.increase)
        cx = gaussian_smooth(cx, settings.smooth_seconds * fps)
        cy = gaussian_smooth(cy, settings.smooth_seconds * fps)
        side = gaussian_smooth(side, settings.scale_smooth_seconds * fps)
        segments.append(Segment(start, stop, cx, cy + settings.offset_y * side, side))
    return segments


def centre_segment(frames: int, width: int, height: int) -> Segment:
    """The `none` crop: the largest centred square of every frame."""
    side = float(min(width, height))
    return Segment(0, frames, np.full(frames, width / 2), np.full(frames, height / 2), np.full(frames, side))


# ---- cropping -----------------------------------------------------------------------------------------------
def fit_in_frame(cx: float, cy: float, side: float, width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the square, shrunk to fit the frame and shifted inside it."""
    side = min(side, width, height)
    half = side / 2
    cx = min(max(cx, half), width - half)
    cy = min(max(cy, half), height - half)
    return cx - half, cy - half, cx + half, cy + half


def crop_resize(frame: np.ndarray, cx: float, cy: float, side: float, size: int, scale: float = 1.0) -> np.ndarray:
    """(size, size, 3) uint8 crop of an RGB frame; (cx, cy, side) are in display pixels and `frame` was decoded at
    `scale` times the display size. Sub-pixel boxes and an anti-aliased Lanczos filter (Pillow) keep a slowly
    moving crop from stepping by whole pixels."""
    h, w = frame.shape[:2]
    box = fit_in_frame(cx * scale, cy * scale, side * scale, w, h)
    image = Image.fromarray(frame)
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0))
