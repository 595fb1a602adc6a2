"""The procedural Sprites renderer: the benchmark's factor structure, drawn visibly and deterministically."""

import itertools
import time

import numpy as np
import pytest

from motioncontent.data.sprites.factors import (
    ATTRIBUTES,
    NUM_CHARACTERS,
    NUM_OPTIONS,
    character_attributes,
    character_id,
)
from motioncontent.data.sprites.procedural import PROCEDURAL_RECIPE_VERSION, ProceduralRenderer

# Characters whose other attributes stay fixed while one attribute is varied; they cover every option of each.
BASES = (character_id(0, 0, 0, 0), character_id(5, 3, 4, 2), character_id(2, 5, 1, 4), character_id(3, 1, 3, 5))
# A pixel counts as changed when its colour moves by at least this much, summed over R, G and B: a shade of the
# same option (or a per-seed jitter on one channel) is not a different option.
VISIBLE = 30
FRONT, LEFT, RIGHT = 0, 1, 2


@pytest.fixture(scope="module")
def renderer() -> ProceduralRenderer:
    return ProceduralRenderer(seed=0)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel mask of visible colour changes between two uint8 RGB arrays of the same shape."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(-1) >= VISIBLE


def silhouette(video: np.ndarray) -> np.ndarray:
    return video.any(-1)


def test_shape_dtype_and_black_background(renderer):
    assert isinstance(PROCEDURAL_RECIPE_VERSION, int) and PROCEDURAL_RECIPE_VERSION >= 1
    for character in (0, 777, NUM_CHARACTERS - 1):
        video = renderer.render_character(character)
        assert video.shape == (9, 8, 64, 64, 3) and video.dtype == np.uint8
        assert video.flags.c_contiguous
        for corner in (video[..., :4, :4, :], video[..., :4, -4:, :], video[..., -4:, :4, :], video[..., -4:, -4:, :]):
            assert not corner.any()
        # A real figure in every frame, but far from filling it.
        area = silhouette(video).sum(axis=(-1, -2))
        assert area.min() > 300 and area.max() < 0.4 * 64 * 64


@pytest.mark.parametrize("character", [-1, NUM_CHARACTERS])
def test_rejects_unknown_characters(renderer, character):
    with pytest.raises(ValueError, match="character"):
        renderer.render_character(character)


def test_figure_stays_inside_the_frame(renderer):
    # A stride coprime with 6 visits every option of every attribute, with all 9 motions each.
    for character in range(0, NUM_CHARACTERS, 7):
        fg = silhouette(renderer.render_character(character))
        border = fg[..., 0, :].any() or fg[..., -1, :].any() or fg[..., :, 0].any() or fg[..., :, -1].any()
        assert not border, f"character {character} touches the frame border"


def test_same_seed_same_bytes_other_seed_other_shades():
    a, b, c = ProceduralRenderer(seed=0), ProceduralRenderer(seed=0), ProceduralRenderer(seed=1)
    for character in (0, 431, 1000, NUM_CHARACTERS - 1):
        va, vb, vc = a.render_character(character), b.render_character(character), c.render_character(character)
        assert va.tobytes() == vb.tobytes()
        assert va.tobytes() != vc.tobytes()
        # The seed varies shades only: the figure and its motion are the same.
        np.testing.assert_array_equal(silhouette(va), silhouette(vc))


def test_rendering_does_not_touch_global_rng():
    state = np.random.get_state()
    ProceduralRenderer(seed=3).render_character(5)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_visibility_metric_ignores_small_shifts(renderer):
    video = renderer.render_character(BASES[1])
    shifted = np.where(video > 0, np.clip(video.astype(np.int16) + 9, 0, 255), 0).astype(np.uint8)
    assert not changed(video, shifted).any()  # 3 x 9 < VISIBLE, so the thresholds below need real differences
    assert changed(video, np.zeros_like(video)).sum() > 1000


@pytest.mark.parametrize("attribute", range(len(ATTRIBUTES)), ids=ATTRIBUTES)
def test_every_option_changes_pixels_visibly(renderer, attribute):
    for base in BASES:
        options = list(character_attributes(base))
        videos = []
        for option in range(NUM_OPTIONS):
            options[attribute] = option
            videos.append(renderer.render_character(character_id(*options)))
        for a, b in itertools.combinations(range(NUM_OPTIONS), 2):
            per_frame = changed(videos[a], videos[b]).sum(axis=(-1, -2))  # (motion, frame)
            where = f"{ATTRIBUTES[attribute]} {a} vs {b} on character {base}"
            assert per_frame.mean() >= 30, f"{where}: only {per_frame.mean():.1f} changed pixels per frame"
            assert per_frame.mean(axis=1).min() >= 15, f"{where}: some motion barely changes"


@pytest.mark.parametrize("character", BASES)
def test_every_motion_moves_the_body_differently(renderer, character):
    video = renderer.render_character(character)
    fg = silhouette(video)
    for i, j in itertools.combinations(range(9), 2):
        assert changed(video[i], video[j]).sum(axis=(-1, -2)).mean() >= 100, f"motions {i} and {j} look alike"
        assert (fg[i] != fg[j]).sum(axis=(-1, -2)).mean() >= 40, f"motions {i} and {j} have the same outline"
    for d in range(9):
        for t in range(7):
            assert changed(video[d, t], video[d, t + 1]).sum() >= 10, f"motion {d}: frames {t}, {t + 1} alike"
            # The outline itself moves: not a colour flicker.
            assert (fg[d, t] != fg[d, t + 1]).sum() >= 5, f"motion {d}: frames {t}, {t + 1} same outline"


def test_directions_face_different_ways(renderer):
    video = renderer.render_character(BASES[2])
    for action in range(3):
        front, left, right = video[3 * action + FRONT], video[3 * action + LEFT], video[3 * action + RIGHT]
        assert changed(left, right).sum() > 1000
        assert changed(front, left).sum() > 1000 and changed(front, right).sum() > 1000
        # By design the right profile is the left one mirrored, so its figure faces the other way.
        np.testing.assert_array_equal(right, left[..., ::-1, :])
        # A profile is not left-right symmetric, so mirroring really turns the figure round.
        assert (silhouette(left[0]) != silhouette(left[0])[:, ::-1]).sum() > 50


def test_render_is_fast(renderer):
    start = time.perf_counter()
    for character in range(0, NUM_CHARACTERS, 65):
        renderer.render_character(character)
    per_character = (time.perf_counter() - start) / len(range(0, NUM_CHARACTERS, 65))
    assert per_character < 0.05  # generous: about 2 ms here; 1296 characters must render well under a minute
