"""benchmarks/content_neighbours.py: does content find the same character across a change of facing?"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from content_neighbours import neighbour_is_same_character  # noqa: E402


def clips(characters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Each character in the three facings (front 0, left 1, right 2), three clips each."""
    character = torch.arange(characters).repeat_interleave(9)
    direction = torch.arange(3).repeat_interleave(3).repeat(characters)
    return character, direction


def test_content_of_the_character_alone_finds_it_in_every_facing():
    character, direction = clips()
    noise = torch.randn(len(character), 20, generator=torch.Generator().manual_seed(0))
    content = torch.nn.functional.one_hot(character).float() + 0.01 * noise
    assert neighbour_is_same_character(content, character, direction) == {
        "same facing": 1.0, "mirrored": 1.0, "turned": 1.0}


def test_content_that_keeps_the_side_view_apart_from_the_front_fails_only_on_turns():
    character, direction = clips()
    generator = torch.Generator().manual_seed(0)
    front_look, side_look = (torch.randn(20, 32, generator=generator) for _ in range(2))
    # left and right share one look (what the mirror teaches); the front is another, unrelated one
    content = torch.where((direction == 0)[:, None], front_look[character], side_look[character])
    shares = neighbour_is_same_character(content, character, direction)
    assert shares["same facing"] == shares["mirrored"] == 1.0
    assert shares["turned"] < 0.25  # nothing ties a character's front to its side: chance is 1 in 20
