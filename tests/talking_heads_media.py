"""Test media for the talking-head tests: the shared real clips, and small videos made with PyAV in tmp_path.

Frames of the made videos encode their own index in flat colour (red = 8 * (i % 32), green = 8 * (i // 32)), so
a decoded frame says which source frame it was even after lossy H.264.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_CLIPS = Path(os.environ.get("TALKING_HEADS_TEST_ROOT", REPO.parent / "shared" / "talking_heads"))
CLIP_NAMES = ("d0", "d9", "d11", "d13", "d18", "d20")


def shared_clip(name: str) -> Path:
    path = SHARED_CLIPS / f"liveportrait_{name}.mp4"
    if not path.is_file():
        pytest.skip(f"sample talking-head clips not found at {SHARED_CLIPS} (set TALKING_HEADS_TEST_ROOT)")
    return path


def index_frame(i: int, width: int = 64, height: int = 48) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0], frame[..., 1] = 8 * (i % 32), 8 * (i // 32)
    return frame


def frame_index(frame: np.ndarray) -> int:
    """The index index_frame encoded, read from the frame's centre."""
    h, w = frame.shape[:2]
    centre = frame[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3).mean(0)
    return int(round(centre[0] / 8)) + 32 * int(round(centre[1] / 8))


def make_video(path: Path, frames: int, fps: float = 25.0, width: int = 64, height: int = 48,
               times_ms: list[int] | None = None, rotation: int | None = None, audio: bool = False,
               content: list[np.ndarray] | None = None, faststart: bool = False) -> Path:
    """An H.264 video of index frames (or `content`); times_ms gives each frame's timestamp (variable rate)."""
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "10"}
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            pixels = content[i] if content is not None else index_frame(i, width, height)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            _mux_silence(container, sound, seconds=frames / fps)
    return path


def _mux_silence(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    samples = 1024
    for k in range(int(seconds * stream.rate / samples) + 1):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = stream.rate, k * samples
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def make_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        _mux_silence(container, container.add_stream("aac", rate=16000), seconds=1.0)
    return path


def make_salted_folder(root: Path, good: int = 3, frames: int = 20) -> dict[str, str]:
    """Good videos of two people plus one of each kind of bad input; returns {bad file: reason keyword}."""
    for k in range(good):
        (root / f"person{k % 2}").mkdir(parents=True, exist_ok=True)
        make_video(root / f"person{k % 2}" / f"talk{k}.mp4", frames)
    bad = root / "bad"
    bad.mkdir()
    whole = (root / "person0" / "talk0.mp4").read_bytes()
    (bad / "truncated.mp4").write_bytes(whole[: len(whole) * 6 // 10])  # the index (moov) is at the end: lost
    fast = make_video(bad / "full.mp4", frames * 3, faststart=True).read_bytes()
    (bad / "full.mp4").unlink()
    (bad / "truncated_faststart.mp4").write_bytes(fast[: len(fast) // 2])  # index intact, frame data cut
    (bad / "corrupt.mp4").write_bytes(_scramble_mdat(whole))
    (bad / "notes.mp4").write_text("this is a text file renamed to .mp4\n" * 10)
    (bad / "empty.mov").write_bytes(b"")
    make_audio_only(bad / "voice.mp4")
    make_video(bad / "three.mp4", 3)
    (bad / "README.txt").write_text("not a video extension: ignored, and counted\n")
    return {"bad/truncated.mp4": "truncated", "bad/truncated_faststart.mp4": "truncated",
            "bad/corrupt.mp4": "corrupt", "bad/notes.mp4": "text file", "bad/empty.mov": "empty",
            "bad/voice.mp4": "audio only", "bad/three.mp4": "too short"}


def _scramble_mdat(data: bytes) -> bytes:
    """Random bytes over the frame data (the mdat box) of an MP4, leaving its index intact: it opens, then fails."""
    position = 0
    while position + 8 <= len(data):
        size, kind = int.from_bytes(data[position : position + 4], "big"), data[position + 4 : position + 8]
        if kind == b"mdat":
            start, stop = position + 8, position + size
            noise = np.random.default_rng(0).integers(0, 256, stop - start, dtype=np.uint8).tobytes()
            return data[:start] + noise + data[stop:]
        position += size
    raise ValueError("no mdat box")


def make_audio_only(path: Path) -> Path:
    """A real mp4/m4a container holding one AAC audio stream and no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
