"""Face-crop maths without a detector: vox-256 enlargement, gaps and cuts, smoothing, tube mode, box files."""

from __future__ import annotations

import numpy as np
import pytest

from motioncontent.data.talking_heads.boxes import read_boxes
from motioncontent.data.talking_heads.face_crop import (
    CropSettings,
    crop_resize,
    enlarge_box,
    fit_in_frame,
    gaussian_smooth,
    plan_segments,
)
from motioncontent.data.video_io import VideoError


def _vox_reference(box, increase):
    """compute_aspect_preserved_bbox of AliaksandrSiarohin/video-preprocessing (util.py), in floats."""
    left, top, right, bot = box
    width, height = right - left, bot - top
    width_increase = max(increase, ((1 + 2 * increase) * height - width) / (2 * width))
    height_increase = max(increase, ((1 + 2 * increase) * width - height) / (2 * height))
    return (left - width_increase * width, top - height_increase * height,
            right + width_increase * width, bot + height_increase * height)


@pytest.mark.parametrize("box", [(100, 50, 200, 180), (10, 10, 90, 40), (0, 0, 50, 50)])
def test_enlargement_matches_the_vox_recipe(box):
    cx, cy, side = enlarge_box(np.array(box, float), 0.1)
    left, top, right, bot = _vox_reference(box, 0.1)
    assert side[0] == pytest.approx(right - left) == pytest.approx(bot - top)  # square, 1.2 x the longer side
    assert (cx[0], cy[0]) == pytest.approx(((left + right) / 2, (top + bot) / 2))


def test_gaussian_smoothing_keeps_constants_and_removes_jitter():
    assert np.allclose(gaussian_smooth(np.full(50, 7.0), 3), 7.0)  # edges are not pulled to zero
    ramp = np.arange(20.0)
    assert np.allclose(gaussian_smooth(ramp, 5), ramp)  # zero phase, even at the ends: no lag on steady motion
    noisy = np.arange(100.0) + np.random.default_rng(0).normal(0, 2, 100)
    assert np.std(np.diff(gaussian_smooth(noisy, 5), 2)) < 0.1 * np.std(np.diff(noisy, 2))


def _track(n, lost=()):
    boxes = np.tile([100.0, 100.0, 200.0, 220.0], (n, 1))
    boxes[:, [0, 2]] += np.linspace(0, 30, n)[:, None]  # drifting right
    boxes[list(lost)] = np.nan
    return boxes


def test_short_gaps_are_filled_and_long_ones_cut():
    settings = CropSettings(max_gap_seconds=0.2)  # 5 frames at 25 fps
    segments = plan_segments(_track(100, lost=range(40, 45)), 25, settings)
    assert [(s.start, s.stop) for s in segments] == [(0, 100)]
    segments = plan_segments(_track(100, lost=range(40, 50)), 25, settings)
    assert [(s.start, s.stop) for s in segments] == [(0, 40), (50, 100)]


def test_leading_and_trailing_frames_without_face_are_dropped():
    segments = plan_segments(_track(60, lost=list(range(5)) + list(range(55, 60))), 25)
    assert [(s.start, s.stop) for s in segments] == [(5, 55)]


def test_a_jump_cuts_the_clip():
    boxes = _track(60)
    boxes[30:] += 400  # another shot: the face moved across the frame
    assert [(s.start, s.stop) for s in plan_segments(boxes, 25)] == [(0, 30), (30, 60)]


def test_no_face_gives_no_segment():
    assert plan_segments(np.full((30, 4), np.nan), 25) == []


def test_smoothed_crop_removes_detector_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    boxes = _track(200) + rng.normal(0, 3, (200, 4))  # detector noise of 3 px on a 100-120 px face
    (segment,) = plan_segments(boxes, 25)
    raw_cx, _, raw_side = enlarge_box(boxes, 0.1)
    assert np.std(np.diff(segment.cx, 2)) < 0.05 * np.std(np.diff(raw_cx, 2))
    assert np.std(np.diff(segment.side)) < 0.05 * np.std(np.diff(raw_side))
    assert segment.cx[-20] - segment.cx[20] == pytest.approx(30 * 160 / 199, abs=2)  # the drift is kept


def test_tube_mode_is_one_fixed_box_per_chunk():
    settings = CropSettings(track="tube", tube_max_frames=40)
    segments = plan_segments(_track(100), 25, settings)
    assert [(s.start, s.stop) for s in segments] == [(0, 40), (40, 80), (80, 100)]
    for s in segments:
        assert np.ptp(s.cx) == 0 and np.ptp(s.side) == 0
    first = segments[0]  # the union of the chunk's boxes, enlarged
    assert first.side[0] == pytest.approx(1.2 * max(100 + 30 * 39 / 99, 120))


def test_crops_never_leave_the_frame():
    assert fit_in_frame(10, 10, 100, 640, 480) == (0, 0, 100, 100)  # shifted inside
    assert fit_in_frame(320, 240, 900, 640, 480) == (80, 0, 560, 480)  # shrunk to the shorter side
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, 32:] = 255
    out = crop_resize(frame, 32, 24, 16, size=8)  # a 16 px square centred on the edge between black and white
    assert out.shape == (8, 8, 3)
    assert out[:, :3].max() < 30 and out[:, 5:].min() > 225


def test_box_file_formats(tmp_path):
    path = tmp_path / "clip.boxes.csv"
    path.write_text("frame,left,top,right,bottom\n0,10,20,110,140\n2,12,20,112,140\n3,0,0,0,0\n")
    table = read_boxes(path)
    assert table(0).tolist() == [10, 20, 110, 140] and table(1) is None and table(3) is None
    path.write_text("LEFT,TOP,RIGHT,BOT\n1,2,30,40\n5,6,50,60\n")  # the vox-256 scripts' files: row = frame
    assert read_boxes(path)(1).tolist() == [5, 6, 50, 60]
    path.write_text("left,top,right,bottom\n1,2,30,40\n")  # one row: a fixed box for every frame
    assert read_boxes(path)(999).tolist() == [1, 2, 30, 40]
    path.write_text("left,top,right\n1,2,3\n")
    with pytest.raises(VideoError, match="no bottom column"):
        read_boxes(path)
    with pytest.raises(VideoError, match="no box file"):
        read_boxes(tmp_path / "missing.boxes.csv")
