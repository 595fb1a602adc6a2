"""Per-frame motion of the synthetic talking heads: smooth head pose, talking mouth, blinks and brow raises.

Every factor is a deterministic function of a numpy Generator, so a clip's motion is fixed by its seed. The
ranges and rates are rough figures for frontal talking-head footage (VoxCeleb-like), chosen so that a 16-frame
window at 25 fps (0.64 s) usually shows visible movement:
- head pose: a sum of 3 sinusoids per angle at 0.15-0.9 Hz, yaw within about +-30 deg, pitch +-15, roll +-10;
- mouth: syllables at 3-5 Hz inside speaking stretches of 0.6-2 s separated by pauses;
- blinks: a Poisson process at about 0.5 per second (people blink 15-20 times a minute), each a 5-frame closure;
- brows: occasional raises of about a second.
"""

from __future__ import annotations

import numpy as np

# Column order of the per-frame factor array (T, len(MOTION_FACTORS)); angles in degrees, shifts in frame widths.
MOTION_FACTORS = ("yaw", "pitch", "roll", "mouth_open", "eye_open", "brow_raise", "shift_x", "shift_y")
POSE_AMPLITUDE = {"yaw": 30.0, "pitch": 15.0, "roll": 10.0, "shift_x": 0.04, "shift_y": 0.03}
BLINK_RATE_HZ = 0.5
BLINK_PROFILE = np.array([0.55, 0.1, 0.0, 0.35, 0.8])  # eye openness over one blink (1 = open), 5 frames


def _smooth_wave(rng: np.random.Generator, t: np.ndarray, low: float, high: float, parts: int = 3) -> np.ndarray:
    """A band-limited random wave in [-1, 1]: a sum of `parts` sinusoids with random frequencies and phases."""
    freq = rng.uniform(low, high, parts)
    phase = rng.uniform(0, 2 * np.pi, parts)
    weight = rng.uniform(0.5, 1.0, parts)
    wave = (weight[:, None] * np.sin(2 * np.pi * freq[:, None] * t[None] + phase[:, None])).sum(0)
    return wave / weight.sum()


def _events(rng: np.random.Generator, frames: int, fps: float, rate_hz: float) -> np.ndarray:
    """Start frames of a Poisson process with rate_hz events per second."""
    count = rng.poisson(rate_hz * frames / fps)
    return np.sort(rng.integers(0, frames, count))


def _mouth(rng: np.random.Generator, t: np.ndarray, fps: float) -> np.ndarray:
    """Mouth opening in [0, 1]: rectified syllable oscillation, switched on in speaking stretches."""
    syllable = np.clip(_smooth_wave(rng, t, 3.0, 5.0, parts=2) * 1.6, 0, 1)
    speaking = np.zeros_like(t, dtype=bool)
    start, talking = -rng.uniform(0, 1.5), rng.random() < 0.75
    while start < t[-1] + 1:
        length = rng.uniform(0.6, 2.0) if talking else rng.uniform(0.2, 0.7)
        if talking:
            speaking |= (t >= start) & (t < start + length)
        start, talking = start + length, not talking
    envelope = np.convolve(speaking.astype(float), np.ones(3) / 3, mode="same")  # no instant jumps
    return syllable * envelope


def _blinks(rng: np.random.Generator, frames: int, fps: float) -> np.ndarray:
    openness = np.ones(frames)
    for start in _events(rng, frames, fps, BLINK_RATE_HZ):
        span = openness[start : start + len(BLINK_PROFILE)]
        np.minimum(span, BLINK_PROFILE[: len(span)], out=span)
    return openness


def _brows(rng: np.random.Generator, t: np.ndarray, fps: float) -> np.ndarray:
    raise_ = np.zeros_like(t)
    for start in _events(rng, len(t), fps, 0.35):
        centre, width = t[start], rng.uniform(0.2, 0.45)
        raise_ = np.maximum(raise_, rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((t - centre) / width) ** 2))
    return raise_


def motion_trajectory(rng: np.random.Generator, frames: int, fps: float) -> np.ndarray:
    """(frames, len(MOTION_FACTORS)) float32 factors of one clip, in MOTION_FACTORS order."""
    t = np.arange(frames) / fps
    columns = {
        "yaw": POSE_AMPLITUDE["yaw"] * _smooth_wave(rng, t, 0.15, 0.9),
        "pitch": POSE_AMPLITUDE["pitch"] * _smooth_wave(rng, t, 0.15, 0.9),
        "roll": POSE_AMPLITUDE["roll"] * _smooth_wave(rng, t, 0.15, 0.6),
        "mouth_open": _mouth(rng, t, fps),
        "eye_open": _blinks(rng, frames, fps),
        "brow_raise": _brows(rng, t, fps),
        "shift_x": POSE_AMPLITUDE["shift_x"] * _smooth_wave(rng, t, 0.1, 0.5),
        "shift_y": POSE_AMPLITUDE["shift_y"] * _smooth_wave(rng, t, 0.1, 0.5),
    }
    return np.stack([columns[name] for name in MOTION_FACTORS], axis=1).astype(np.float32)
