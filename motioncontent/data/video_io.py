"""Video I/O with PyAV: frame-accurate decoding resampled to a target frame rate, folders of frame images, writing.

Resampling picks frames by presentation timestamp, like FFmpeg's `fps` filter with its default `round=near`
(https://ffmpeg.org/ffmpeg-filters.html#fps): output frame k stands at t0 + k / fps, where t0 is the first
frame's timestamp, and shows the source frame whose timestamp is nearest (the earlier one on a tie). Output
frames run while their time is before the end of the last source frame, so N frames at rate r give
ceil(N * fps / r) frames. Timestamps are exact fractions (pts x time_base), so constant rates (10, 24, 25, 30,
30000/1001 fps) and variable frame rate files are handled the same way, with no rounding drift.

Frames come out upright: the display matrix that phones write for portrait video is applied (FFmpeg's autorotate
does the same), and non-square pixels are stretched to their display shape. Audio streams are never decoded.
Anything unreadable raises VideoError, whose message is the reason shown in preprocessing reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from motioncontent.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# A decoded span shorter than this share of the declared duration means the file lost its end.
TRUNCATION_TOLERANCE = 0.9


class VideoError(DataError):
    """A file that cannot be used as a video; the message is the reason a report lists."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container declares (frames and duration may be absent); width/height are the upright display size."""

    width: int
    height: int
    fps: float
    frames: int | None
    duration: float | None
    rotation: int
    codec: str


# ---- resampling: pure functions of timestamps ---------------------------------------------------------------
class Resampler:
    """Streaming nearest-timestamp resampler: feed source frame times in presentation order, get output slots.

    push(t) returns the output indices that the *previous* source frame fills (they are known once the next
    timestamp is seen); finish(end) returns those of the last frame, up to the end time of the stream.
    """

    def __init__(self, fps: float | Fraction):
        self.step = Fraction(fps).limit_denominator(1001 * 1000) ** -1
        self.t0: Fraction | None = None
        self.prev: Fraction | None = None
        self.last_interval: Fraction | None = None  # between the last two distinct timestamps
        self.next_k = 0

    def _tick(self, k: int) -> Fraction:
        assert self.t0 is not None
        return self.t0 + k * self.step

    def push(self, t: Fraction) -> list[int]:
        if self.t0 is None:
            self.t0 = self.prev = t
            return []
        assert self.prev is not None
        if t <= self.prev:  # a repeated or out-of-order timestamp: this frame never shows
            return []
        midpoint = (self.prev + t) / 2
        slots = []
        while self._tick(self.next_k) <= midpoint:
            slots.append(self.next_k)
            self.next_k += 1
        self.prev, self.last_interval = t, t - self.prev
        return slots

    def finish(self, end: Fraction) -> list[int]:
        if self.t0 is None:
            return []
        slots = []
        while self._tick(self.next_k) < end:
            slots.append(self.next_k)
            self.next_k += 1
        return slots


def resample_indices(times: Sequence[float | Fraction], fps: float, end: float | Fraction) -> list[int]:
    """For source frames at `times` (presentation order) ending at `end`: the source index of every output frame.
    Pass Fractions for exact results; a float such as 0.08 is slightly more than 2/25 in binary."""
    resampler, picked = Resampler(fps), []
    for i, t in enumerate(times):
        picked += [i - 1] * len(resampler.push(Fraction(t)))
    picked += [len(times) - 1] * len(resampler.finish(Fraction(end)))
    return picked


# ---- reading videos ------------------------------------------------------------------------------------------
def _describe_open_error(path: Path, error: Exception) -> str:
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return "empty file (0 bytes)"
    with path.open("rb") as f:
        head = f.read(512)
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "not a video: a text file"
        except UnicodeDecodeError:
            pass
    if head[4:8] == b"ftyp":
        return f"damaged or truncated MP4/MOV (the container cannot be opened: {error})"
    return f"not a readable video container ({type(error).__name__}: {error})"


def _open(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    if not path.is_file():
        raise VideoError(f"no such file: {path}")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError, ValueError) as error:
        raise VideoError(_describe_open_error(path, error)) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        raise VideoError("no video stream (audio only)" if "audio" in kinds else f"no video stream (streams: {kinds})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame-threaded decoding; the frame order and timestamps are unaffected
    return container, stream


def _rotation_of(stream_or_frame: object) -> int:
    """Counter-clockwise display rotation in degrees, snapped to a multiple of 90."""
    degrees = getattr(stream_or_frame, "rotation", 0) or 0
    return int(round(degrees / 90.0)) * 90 % 360


def probe(path: str | Path) -> VideoInfo:
    """Declared properties of the first video stream (decodes one frame to read its rotation)."""
    path = Path(path)
    container, stream = _open(path)
    with container:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
            container.duration / av.time_base if container.duration else None)
        rotation = 0
        try:
            rotation = _rotation_of(next(container.decode(stream)))
        except (StopIteration, av.FFmpegError):
            pass
        w, h = _display_size(stream)
        if rotation in (90, 270):
            w, h = h, w
        return VideoInfo(w, h, float(rate) if rate else 0.0, stream.frames or None, duration, rotation,
                         stream.codec_context.name)


def _display_size(stream: av.video.stream.VideoStream) -> tuple[int, int]:
    w, h = stream.codec_context.width, stream.codec_context.height
    sar = stream.sample_aspect_ratio
    if sar and sar != 1 and sar > 0:
        w = max(2, int(round(w * sar)))  # non-square pixels: stretch the width, as players do
    return w, h


def _upright(frame: av.VideoFrame, size: tuple[int, int], scale: float) -> np.ndarray:
    """RGB uint8 (H, W, 3) of frame at its display size times scale, rotated upright."""
    w, h = max(1, int(round(size[0] * scale))), max(1, int(round(size[1] * scale)))
    if (w, h) != (frame.width, frame.height):
        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    else:
        rgb = frame.to_ndarray(format="rgb24")
    k = _rotation_of(frame) // 90
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def _declared_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else None


def iter_video(path: str | Path, fps: float = 25.0, scale: float = 1.0) -> Iterator[tuple[int, np.ndarray]]:
    """(source frame index, upright RGB uint8 frame) for every output frame at `fps`, in order.

    A source frame that fills several output slots is yielded once per slot (the same array). `scale` resizes
    at decode time (e.g. 0.5 for a cheap copy for face detection). Raises VideoError on unreadable, corrupt or
    truncated input, possibly after some frames were yielded: callers keep nothing until the iterator ends.
    """
    path = Path(path)
    container, stream = _open(path)
    resampler = Resampler(fps)
    size = _display_size(stream)
    count, damaged = 0, 0
    # The frame on hold until the next timestamp says how many output slots it fills: (index, frame, time,
    # duration); it is converted to RGB only if it fills any (downsampling skips some frames entirely).
    prev: tuple[int, av.VideoFrame, Fraction, Fraction | None] | None = None
    nominal = 1 / Fraction(stream.average_rate) if stream.average_rate else Fraction(1, 25)

    def emit(n: int) -> Iterator[tuple[int, np.ndarray]]:
        if n and prev is not None:
            pixels = _upright(prev[1], size, scale)
            for _ in range(n):
                yield prev[0], pixels

    with container:
        try:
            for frame in container.decode(stream):
                damaged += bool(frame.is_corrupt)
                time_base = Fraction(frame.time_base) if frame.time_base is not None else None
                if frame.pts is not None and time_base is not None:
                    t = frame.pts * time_base
                else:  # no timestamp: assume the nominal rate after the previous frame
                    t = prev[2] + nominal if prev else Fraction(0)
                yield from emit(len(resampler.push(t)))
                if prev is None or t > prev[2]:  # a repeated timestamp never shows
                    duration = frame.duration * time_base if frame.duration and time_base is not None else None
                    prev = (count, frame, t, duration)
                count += 1
        except av.FFmpegError as error:
            raise VideoError(f"corrupt or truncated video data after {count} frames ({error})") from None
        if prev is None:
            raise VideoError("no decodable video frames")
        if damaged:
            raise VideoError(f"corrupt video data: the decoder flagged {damaged} of {count} frames as damaged")
        # The last frame lasts its own duration when the container says so, else as long as the one before it.
        end = prev[2] + (prev[3] or resampler.last_interval or nominal)
        declared, decoded = _declared_duration(container, stream), float(end - (resampler.t0 or 0))
        if declared is not None and declared > 1.0 and decoded < TRUNCATION_TOLERANCE * declared:
            raise VideoError(f"truncated: decoded {decoded:.2f} s of the declared {declared:.2f} s")
        yield from emit(len(resampler.finish(end)))


# ---- folders of frame images (the FOMM/LIA `vox` png layout) --------------------------------------------------
def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def image_files(folder: str | Path) -> list[Path]:
    """The frame images of a folder in natural order (frame2 before frame10)."""
    files = [p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=_natural_key)


def iter_image_folder(folder: str | Path, fps: float = 25.0, source_fps: float = 25.0,
                      scale: float = 1.0) -> Iterator[tuple[int, np.ndarray]]:
    """Like iter_video for a folder of frame images shown at `source_fps` (images have no timestamps)."""
    files = image_files(folder)
    if not files:
        raise VideoError("no frame images (png/jpg) in the folder")
    size: tuple[int, int] | None = None
    cache: tuple[int, np.ndarray] | None = None
    step = 1 / Fraction(source_fps).limit_denominator(1001 * 1000)
    for k, i in enumerate(resample_indices([n * step for n in range(len(files))], fps, len(files) * step)):
        if cache is None or cache[0] != i:
            try:
                with Image.open(files[i]) as image:
                    image = image.convert("RGB")
                    size = size or image.size
                    if image.size != size:
                        raise VideoError(f"frame {files[i].name} is {image.size[0]}x{image.size[1]}, "
                                         f"the first frame {size[0]}x{size[1]}")
                    if scale != 1.0:
                        image = image.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))),
                                             Image.Resampling.BOX)
                    cache = (i, np.asarray(image))
            except (OSError, SyntaxError, ValueError) as error:
                raise VideoError(f"unreadable frame image {files[i].name} ({error})") from None
        yield cache


# ---- writing -------------------------------------------------------------------------------------------------
def write_video(path: str | Path, frames: np.ndarray | Sequence[np.ndarray], fps: float = 25.0,
                codec: str = "libx264", options: dict[str, str] | None = None) -> None:
    """Encode RGB uint8 frames (T, H, W, 3). libx264: yuv420p, crf 18, odd sizes padded to even (a preview);
    ffv1: lossless bgr0 (use an .mkv or .avi path); anything else with its default pixel format."""
    frames = [np.asarray(f, dtype=np.uint8) for f in frames]
    if not frames:
        raise ValueError("no frames to write")
    h, w = frames[0].shape[:2]
    pix_fmt = {"libx264": "yuv420p", "ffv1": "bgr0", "libx264rgb": "rgb24"}.get(codec)
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):  # libx264 refuses odd sizes with 4:2:0 chroma (ECOSYSTEM 4)
        frames = [np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") for f in frames]
        h, w = h + h % 2, w + w % 2
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001 * 1000))
        stream.width, stream.height = w, h
        if pix_fmt:
            stream.pix_fmt = pix_fmt
        stream.options = dict(options if options is not None else ({"crf": "18"} if codec == "libx264" else {}))
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())


class VideoStreamWriter:
    """Append RGB uint8 frames to an H.264 mp4 (yuv420p, odd sizes padded to even) as they are made, so a long
    video never has to fit in memory. Written under a temporary name; close() renames it into place, abort() drops
    it, so a failed run never leaves a half-written file under the final name."""

    def __init__(self, path: str | Path, fps: float = 25.0, crf: int = 18):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial")
        self.fps, self.crf = fps, crf
        self.frames = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None

    def write(self, frames: np.ndarray | Sequence[np.ndarray]) -> None:
        for frame in frames:
            frame = np.asarray(frame, dtype=np.uint8)
            h, w = frame.shape[:2]
            if h % 2 or w % 2:  # libx264 refuses odd sizes with 4:2:0 chroma (ECOSYSTEM 4)
                frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            if self._container is None:
                self._container = av.open(str(self.tmp), "w", format="mp4")
                rate = Fraction(self.fps).limit_denominator(1001 * 1000)
                self._stream = self._container.add_stream("libx264", rate=rate)
                self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
                self._stream.pix_fmt = "yuv420p"
                self._stream.options = {"crf": str(self.crf)}
            assert self._stream is not None
            self._container.mux(self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                                               format="rgb24")))
            self.frames += 1

    def close(self) -> Path:
        if self._container is None or self._stream is None:
            raise ValueError(f"no frames were written to {self.path}")
        self._container.mux(self._stream.encode())
        self._container.close()
        self._container = None
        self.tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except av.FFmpegError:
                pass
            self._container = None
        self.tmp.unlink(missing_ok=True)
