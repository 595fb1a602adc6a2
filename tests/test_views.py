"""The encoder-pass views of models/views.py: what each keeps and what it destroys."""

import pytest
import torch

from motioncontent.models.views import permute_channels, random_hflip, shuffle_patches


def test_shuffle_patches_moves_whole_tiles_and_keeps_every_pixel():
    torch.manual_seed(0)
    video = torch.rand(2, 3, 3, 16, 16)
    out = shuffle_patches(video, 4)
    assert out.shape == video.shape and not torch.equal(out, video)
    tiles = lambda v: v.unfold(3, 4, 4).unfold(4, 4, 4).reshape(2, 3, 3, 16, 16).permute(0, 1, 3, 2, 4)  # (b,t,n,c,..)
    for b in range(2):
        for t in range(3):
            before = {tuple(x.flatten().tolist()) for x in tiles(video)[b, t]}
            after = {tuple(x.flatten().tolist()) for x in tiles(out)[b, t]}
            assert before == after  # the same 16 tiles, only elsewhere


def test_shuffle_patches_fresh_per_frame_in_training_fixed_with_a_generator():
    video = torch.arange(16.0).reshape(1, 1, 1, 4, 4).expand(1, 2, 1, 4, 4).contiguous()  # two identical frames
    torch.manual_seed(1)
    random = shuffle_patches(video, 1)
    assert not torch.equal(random[0, 0], random[0, 1])  # each frame its own shuffle
    fixed = shuffle_patches(video, 1, torch.Generator().manual_seed(0))
    assert torch.equal(fixed[0, 0], fixed[0, 1])
    assert torch.equal(fixed, shuffle_patches(video, 1, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="not divisible"):
        shuffle_patches(video, 3)


def test_permute_channels_reorders_colours_per_clip():
    torch.manual_seed(0)
    video = torch.arange(3.0)[None, None, :, None, None].expand(16, 2, 3, 4, 4)  # channel c holds the value c
    out = permute_channels(video)
    orders = {tuple(out[b, 0, :, 0, 0].long().tolist()) for b in range(16)}
    assert all(sorted(order) == [0, 1, 2] for order in orders) and len(orders) > 1
    assert torch.equal(out[:, 0], out[:, 1])  # all frames of a clip alike


def test_random_hflip_all_or_nothing():
    video = torch.rand(4, 2, 3, 8, 8)
    assert torch.equal(random_hflip(video, 1.0), video.flip(-1))
    assert torch.equal(random_hflip(video, 0.0), video)
