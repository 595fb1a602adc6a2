"""PyAV decoding: every sample clip decodes, fps resampling is frame-accurate (CFR and VFR), rotation and
non-square pixels are respected, bad files raise VideoError with a reason, frame folders and the writer."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image
from talking_heads_media import CLIP_NAMES, frame_index, index_frame, make_video, shared_clip

from motioncontent.data.video_io import (
    VideoError,
    image_files,
    iter_image_folder,
    iter_video,
    probe,
    resample_indices,
    write_video,
)

# (frames, fps) of the sample clips (their README).
SAMPLE = {"d0": (78, 25), "d9": (587, 30), "d11": (225, 25), "d13": (352, 30), "d18": (216, 30), "d20": (175, 25)}


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_every_sample_clip_decodes_to_the_expected_count_at_25_fps(name):
    frames, fps = SAMPLE[name]
    decoded = [(i, f.shape) for i, f in iter_video(shared_clip(name), fps=25, scale=0.125)]
    assert len(decoded) == math.ceil(frames * 25 / fps)
    assert decoded[-1][0] == frames - 1  # the last source frame is reached
    info = probe(shared_clip(name))
    assert info.frames == frames and info.fps == fps


@pytest.mark.parametrize("fps", [10, 24, 25, 30])
def test_resampling_picks_the_nearest_source_frame(tmp_path, fps):
    n = 30
    path = make_video(tmp_path / f"v{fps}.mp4", n, fps=fps)
    out = list(iter_video(path, fps=25))
    assert len(out) == math.ceil(n * 25 / fps)
    for k, (index, frame) in enumerate(out):
        # output k at k/25 s shows source round(k * fps / 25), ties to the earlier frame; the last frame holds
        expected = min(n - 1, math.ceil(Fraction(k * fps, 25) - Fraction(1, 2)))
        assert index == expected, (k, index, expected)
        assert frame_index(frame) == expected  # the pixels are that frame's, not just the index


def test_ntsc_rate_has_no_drift(tmp_path):
    path = make_video(tmp_path / "ntsc.mp4", 60, fps=30000 / 1001)
    assert len(list(iter_video(path, fps=25))) == math.ceil(60 * 25 * 1001 / 30000)


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times = [0, 40, 50, 120, 200, 210, 220, 400, 440, 480]  # ms; a 180 ms freeze and a burst
    path = make_video(tmp_path / "vfr.mkv", len(times), times_ms=times)
    out = list(iter_video(path, fps=25))
    # ticks every 40 ms up to the end of the last frame (520 ms); 160 ms is a tie between 120 and 200 -> earlier
    assert [i for i, _ in out] == [0, 1, 2, 3, 3, 4, 6, 6, 7, 7, 7, 8, 9]
    assert [frame_index(f) for _, f in out] == [0, 1, 2, 3, 3, 4, 6, 6, 7, 7, 7, 8, 9]


def test_resample_indices_pure():
    # 10 -> 25 fps: ticks 0, .04, ... .28; midpoints .05 and .15
    assert resample_indices([Fraction(0), Fraction(1, 10), Fraction(2, 10)], fps=25, end=Fraction(3, 10)) == \
        [0, 0, 1, 1, 2, 2, 2, 2]
    fiftieths = [Fraction(i, 50) for i in range(5)]
    assert resample_indices(fiftieths[:4], fps=25, end=fiftieths[4]) == [0, 2]  # 50 -> 25 fps: every other frame
    assert resample_indices([], fps=25, end=1) == []


@pytest.mark.parametrize("rotation, corner", [(90, "bottom-left"), (-90, "top-right"), (180, "bottom-right")])
def test_display_rotation_is_applied(tmp_path, rotation, corner):
    content = np.zeros((48, 64, 3), np.uint8)
    content[:12, :16] = 255  # a white block in the stored top-left corner
    path = make_video(tmp_path / "rot.mp4", 3, rotation=rotation, content=[content] * 3)
    _, frame = next(iter_video(path))
    h, w = frame.shape[:2]
    assert (h, w) == ((64, 48) if rotation % 180 else (48, 64))
    assert probe(path).rotation == rotation % 360 and (probe(path).width, probe(path).height) == (w, h)
    # the display matrix rotates counter-clockwise (FFmpeg's autorotate convention)
    quadrants = {"top-left": frame[: h // 2, : w // 2], "top-right": frame[: h // 2, w // 2 :],
                 "bottom-left": frame[h // 2 :, : w // 2], "bottom-right": frame[h // 2 :, w // 2 :]}
    brightest = max(quadrants, key=lambda q: quadrants[q].mean())
    assert brightest == corner


def test_audio_streams_are_ignored(tmp_path):
    path = make_video(tmp_path / "with_audio.mp4", 25, audio=True)
    assert [frame_index(f) for _, f in iter_video(path)] == list(range(25))


def test_d9_non_square_pixels_give_a_square_display(tmp_path):
    """d9 is stored 512x480 with sample aspect ratio 15:16, i.e. shown as 480x480; decoding must not squash it."""
    info = probe(shared_clip("d9"))
    assert (info.width, info.height) == (480, 480)
    _, frame = next(iter_video(shared_clip("d9")))
    assert frame.shape == (480, 480, 3)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"hello, not a video\n" * 20, "text file"),
    (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not a readable video"),
])
def test_unreadable_files_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=reason):
        list(iter_video(path))


def test_frame_folder_is_resampled_from_its_nominal_rate(tmp_path):
    for i in range(12):
        Image.fromarray(index_frame(i)).save(tmp_path / f"frame{i}.png")  # natural order: frame2 < frame10
    assert [p.name for p in image_files(tmp_path)][:3] == ["frame0.png", "frame1.png", "frame2.png"]
    out = list(iter_image_folder(tmp_path, fps=25, source_fps=10))
    assert len(out) == math.ceil(12 * 25 / 10)
    assert [frame_index(f) for _, f in out][:6] == [0, 0, 1, 1, 2, 2]  # 0.4 -> 0, 0.8 -> 1, 1.2 -> 1, 1.6 -> 2


def test_frame_folder_with_mixed_sizes_is_an_error(tmp_path):
    Image.fromarray(index_frame(0)).save(tmp_path / "0.png")
    Image.fromarray(index_frame(1, 32, 32)).save(tmp_path / "1.png")
    with pytest.raises(VideoError, match="is 32x32"):
        list(iter_image_folder(tmp_path))


def test_ffv1_round_trip_is_exact_and_x264_pads_odd_sizes(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (5, 33, 31, 3), dtype=np.uint8)
    write_video(tmp_path / "a.mkv", frames, codec="ffv1")
    assert np.array_equal(np.stack([f for _, f in iter_video(tmp_path / "a.mkv")]), frames)
    write_video(tmp_path / "b.mp4", frames)  # odd sizes would make libx264 fail without the padding
    assert next(iter_video(tmp_path / "b.mp4"))[1].shape == (34, 32, 3)
