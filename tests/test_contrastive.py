"""The content agreement loss: known values at the two extremes, and where its gradient goes in BCDModule."""

import math

import pytest
import torch

from motioncontent.models.contrastive import content_info_nce
from motioncontent.systems import BCDModule


def test_info_nce_is_ln_batch_when_nothing_tells_clips_apart_and_small_when_halves_match():
    same = torch.ones(8, 2, 16)
    assert content_info_nce(same, same).item() == pytest.approx(math.log(8), rel=1e-5)
    distinct = torch.eye(8, 16)[:, None, :].expand(8, 2, 16)  # orthogonal, each clip's halves identical
    assert content_info_nce(distinct, distinct).item() < 1e-3
    swapped = distinct.roll(1, dims=0)  # every clip paired with another's content: worse than chance
    assert content_info_nce(distinct, swapped).item() > math.log(8)
    # a large vector shared by all clips (an encoder's learned queries) must not hide the clip-specific parts
    shared = 100.0 * torch.ones(16) + distinct
    assert content_info_nce(shared, shared).item() < 1e-3


def test_content_nce_trains_the_encoder_only():
    torch.manual_seed(0)
    model = BCDModule(encoder_dim=32, encoder_depth=1, encoder_heads=2, num_content_queries=2, content_dim=16,
                      motion_dim=8, num_groups=2, codebook_size=4, target_bits_per_frame=2.0, denoiser_dim=32,
                      denoiser_depth=1, denoiser_heads=2, content_shuffle_patch=8, content_nce_weight=1.0)
    out = model.losses(torch.rand(4, 8, 3, 64, 64) * 2 - 1)
    assert "content_nce" in out
    out["content_nce"].backward()
    assert model.encoder.head_c.weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.denoiser.parameters())
