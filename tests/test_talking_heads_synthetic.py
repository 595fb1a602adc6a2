"""Synthetic talking heads: deterministic by seed, and every factor changes the picture the way it says."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from motioncontent.data.talking_heads.synthetic_faces import (
    EYE_COLOURS,
    HAIR_COLOURS,
    SKIN_TONES,
    FaceRenderer,
    Identity,
    render_clip,
)
from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS, motion_trajectory
from motioncontent.data.talking_heads.synthetic_set import build_synthetic, synthetic_clips

SIZE = 64
NEUTRAL = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "mouth_open": 0.0, "eye_open": 1.0, "brow_raise": 0.0,
           "shift_x": 0.0, "shift_y": 0.0}
# A light-skinned, dark-eyed face with short hair on a fixed background.
PERSON = Identity(face_shape=0, skin_tone=0, hair_colour=0, hair_style=1, eye_colour=0, shirt_colour=0,
                  eye_spacing=1.0, eye_size=1.1, mouth_width=1.0, nose_size=1.0, brow_thickness=1.0, head_size=1.0)
BALD = replace(PERSON, hair_style=0)  # without hair, the dark pixels on the face are its features


def draw(identity: Identity = PERSON, **motion: float) -> np.ndarray:
    m = np.array([[{**NEUTRAL, **motion}[name] for name in MOTION_FACTORS]], np.float32)
    return FaceRenderer(SIZE).render(identity, m, background_seed=0)[0].astype(int)


def changed(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero(np.abs(a - b).sum(-1) > 30)


def dark_features(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels inside BALD's face much darker than its light skin: brows, eyes, nose shade, mouth."""
    face = frame[18:42, 21:43]
    ys, xs = np.nonzero(face.sum(-1) < 0.7 * sum(SKIN_TONES[0]))
    return ys + 18, xs + 21


def test_same_seed_same_bytes_other_seed_other_clip():
    person = Identity.sample(np.random.default_rng(5))
    a, fa = render_clip(person, 12, 25.0, SIZE, seed=7)
    b, fb = render_clip(person, 12, 25.0, SIZE, seed=7)
    c, _ = render_clip(person, 12, 25.0, SIZE, seed=8)
    assert a.dtype == np.uint8 and a.shape == (12, SIZE, SIZE, 3)
    assert np.array_equal(a, b) and np.array_equal(fa, fb)
    assert not np.array_equal(a, c)
    assert Identity.sample(np.random.default_rng(5)) == person


def test_motion_trajectories_are_smooth_and_in_range():
    m = motion_trajectory(np.random.default_rng(0), 2500, 25.0)  # 100 s
    col = {name: m[:, i] for i, name in enumerate(MOTION_FACTORS)}
    assert np.abs(col["yaw"]).max() <= 30 and np.abs(col["pitch"]).max() <= 15 and np.abs(col["roll"]).max() <= 10
    assert np.abs(np.diff(col["yaw"])).max() < 30 * 2 * np.pi * 0.9 / 25  # band-limited: at most the top frequency
    for name in ("mouth_open", "eye_open", "brow_raise"):
        assert 0 <= col[name].min() and col[name].max() <= 1
    blinks = np.sum((col["eye_open"][1:] < 0.2) & (col["eye_open"][:-1] >= 0.2))
    assert 20 <= blinks <= 80  # ~0.5 per second
    assert (col["mouth_open"] > 0.3).mean() > 0.1 and (col["mouth_open"] < 0.05).mean() > 0.2  # talking and pauses


def test_mouth_opening_changes_only_the_mouth():
    ys, xs = changed(draw(), draw(mouth_open=1.0))
    assert len(ys) > 10
    assert ys.min() >= 0.5 * SIZE and abs(xs.mean() - SIZE / 2) < 3  # below the eyes and nose, centred


def test_blink_and_brows_change_only_the_eye_band():
    ys, _ = changed(draw(), draw(eye_open=0.0))
    assert len(ys) > 4 and 0.3 * SIZE < ys.min() and ys.max() < 0.5 * SIZE
    brow_ys, _ = changed(draw(), draw(brow_raise=1.0))
    assert len(brow_ys) > 4 and brow_ys.mean() < ys.mean()  # brows sit above the eyes


def test_head_pose_moves_the_features():
    _, x_left = dark_features(draw(BALD, yaw=-25))
    _, x_right = dark_features(draw(BALD, yaw=25))
    assert x_right.mean() - x_left.mean() > 2  # turning right (viewer's right) moves the features right
    y_up, _ = dark_features(draw(BALD, pitch=15))
    y_down, _ = dark_features(draw(BALD, pitch=-15))
    assert y_down.mean() - y_up.mean() > 1.5  # pitch up lifts the features
    for roll, sign in ((15, 1), (-15, -1)):  # roll: counter-clockwise lifts the viewer's right eye
        ys, xs = dark_features(draw(BALD, roll=roll))
        eyes = (ys > 20) & (ys < 32)
        left, right = ys[eyes & (xs < SIZE / 2)].mean(), ys[eyes & (xs >= SIZE / 2)].mean()
        assert sign * (left - right) > 1
    ys, xs = changed(draw(), draw(shift_x=0.04))
    assert len(xs) > 50  # the whole head moves


@pytest.mark.parametrize("factor, values, point", [
    ("skin_tone", (0, 5), (38, 40)),  # a cheek
    ("hair_colour", (0, 3), (12, 32)),  # top of the head
    ("eye_colour", (1, 2), None),
    ("face_shape", (2, 3), None),
    ("hair_style", (0, 2), None),
])
def test_identity_factors_change_the_picture(factor, values, point):
    a = draw(replace(PERSON, **{factor: values[0]}))
    b = draw(replace(PERSON, **{factor: values[1]}))
    assert len(changed(a, b)[0]) > 3
    if point is not None:
        y, x = point
        palette = SKIN_TONES if factor == "skin_tone" else HAIR_COLOURS
        assert np.abs(b[y, x] - np.array(palette[values[1]])).max() < 40  # the pixel takes the factor's colour
    if factor == "eye_colour":
        ys, xs = changed(a, b)
        assert 0.3 * SIZE < ys.mean() < 0.5 * SIZE and len(EYE_COLOURS) == 5


def test_synthetic_set_files_and_ground_truth(tmp_path):
    counts = build_synthetic(tmp_path, num_identities=3, clips_per_identity=2, frames=10, size=32, fps=25.0, seed=1,
                             progress=False)
    assert counts == {"identities": 3, "clips": 6, "frames": 60}
    clips, factors = synthetic_clips(tmp_path)
    assert [c.identity for c in clips] == ["synth00000"] * 2 + ["synth00001"] * 2 + ["synth00002"] * 2
    assert clips[0].labels == clips[1].labels  # one person, two clips: same identity factors
    motion = factors[tmp_path / "clips.npy"]
    assert motion.shape == (6, 10, len(MOTION_FACTORS)) and not np.array_equal(motion[0], motion[1])
    video = np.load(tmp_path / "clips.npy")
    again = tmp_path / "again"
    again.mkdir()
    build_synthetic(again, 3, 2, 10, 32, 25.0, seed=1, progress=False)
    assert np.array_equal(video, np.load(again / "clips.npy"))
