"""MotionContentEncoder (METHOD.md section 4) and the T5 relative position bias it uses: shapes for any
T <= max_frames, content reads every frame, motion at t reads frame t, and no token gets an absolute time."""

from __future__ import annotations

import pytest
import torch

from motioncontent.models.encoder import MotionContentEncoder, SeparateContentEncoder
from motioncontent.models.layers import RelativePositionBias, relative_position_bucket

C, S, K, CC, CM, MAX_T = 4, 8, 3, 16, 8, 12


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_encoder(**kw) -> MotionContentEncoder:
    cfg = dict(dim=32, depth=2, heads=2, num_content_queries=K, content_dim=CC, motion_dim=CM,
               max_frames=MAX_T, stem_channels=16)
    cfg.update(kw)
    return MotionContentEncoder(C, S, **cfg).eval()


@pytest.mark.parametrize("t", [1, 4, MAX_T])
def test_shapes_for_any_clip_length(t):
    content, motion = make_encoder()(torch.randn(2, t, C, S, S))
    assert content.shape == (2, K, CC)
    assert motion.shape == (2, t, CM)
    assert torch.isfinite(content).all() and torch.isfinite(motion).all()


@pytest.mark.parametrize("in_size", [4, 6, 16])
def test_conv_stem_handles_other_sizes(in_size):
    enc = MotionContentEncoder(2, in_size, dim=32, depth=1, heads=2, num_content_queries=2, content_dim=8,
                               motion_dim=4, max_frames=8, stem_channels=8)
    content, motion = enc(torch.randn(1, 3, 2, in_size, in_size))
    assert content.shape == (1, 2, 8) and motion.shape == (1, 3, 4)


def test_too_many_frames_raises():
    with pytest.raises(ValueError, match="max_frames"):
        make_encoder()(torch.randn(1, MAX_T + 1, C, S, S))


def test_wrong_latent_shape_raises():
    with pytest.raises(ValueError, match="expected latents"):
        make_encoder()(torch.randn(1, 2, C, S + 2, S + 2))


def test_content_depends_on_every_frame():
    enc = make_encoder()
    x = torch.randn(1, 5, C, S, S)
    content, _ = enc(x)
    for t in range(5):
        x2 = x.clone()
        x2[:, t] += torch.randn_like(x2[:, t])
        content2, _ = enc(x2)
        assert (content2 - content).abs().max() > 1e-4, f"content ignores frame {t}"


def test_motion_at_t_reads_frame_t_and_batch_items_stay_apart():
    enc = make_encoder()
    x = torch.randn(2, 4, C, S, S, requires_grad=True)
    for t in range(4):
        (grad,) = torch.autograd.grad(enc(x)[1][0, t].sum(), x)
        assert grad[0, t].abs().sum() > 0, f"motion {t} has no gradient from frame {t}"
        assert grad[1].abs().sum() == 0, "batch items leak into each other"


def test_every_parameter_gets_a_gradient():
    enc = make_encoder()
    content, motion = enc(torch.randn(2, 4, C, S, S))
    (content.square().sum() + motion.square().sum()).backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, f"{name} gets a zero gradient"


def test_attention_bias_gives_no_absolute_time():
    enc = make_encoder()
    t = 6
    bias = enc.attn_bias(t)
    assert bias.shape == (2, K + t, K + t)
    frames = bias[:, K:, K:]
    for i in range(t):
        for j in range(t):
            # Toeplitz: only the offset j - i matters
            assert torch.equal(frames[:, i, j], frames[:, max(i - j, 0), max(j - i, 0)])
    # rows and columns of the content queries are the same for every frame and every query
    assert torch.equal(bias[:, :K, K:], enc.query_frame_bias[:, None, None].expand(2, K, t))
    assert torch.equal(bias[:, K:, :K], enc.frame_query_bias[:, None, None].expand(2, t, K))
    assert torch.equal(bias[:, :K, :K], enc.query_query_bias[:, None, None].expand(2, K, K))
    # a shorter clip sees the same bias, cut down: nothing depends on T itself
    assert torch.equal(enc.attn_bias(3), bias[:, : K + 3, : K + 3])
    # past and future offsets get different buckets
    assert not torch.equal(frames[:, 0, 1], frames[:, 1, 0])


def test_t5_buckets_match_reference_values():
    # hand-worked from T5's _relative_position_bucket (32 buckets, max_distance 128, bidirectional)
    offsets = torch.tensor([0, 1, -1, 7, -8, 8, 127, -127, 500])
    expected = torch.tensor([0, 17, 1, 23, 8, 24, 31, 15, 31])
    assert torch.equal(relative_position_bucket(offsets, 32, 128), expected)
    buckets = relative_position_bucket(torch.arange(-200, 201), 32, 128)
    assert buckets.min() == 0 and buckets.max() == 31


def test_relative_bias_rejects_a_degenerate_max_distance():
    with pytest.raises(ValueError, match="max_distance"):
        RelativePositionBias(2, num_buckets=32, max_distance=8)


def test_content_norm_standardises_content_over_the_batch_and_uses_running_statistics_alone():
    torch.manual_seed(0)
    encoder = MotionContentEncoder(48, 16, dim=32, depth=1, heads=2, num_content_queries=3, content_dim=8,
                                   motion_dim=4, content_norm=True).train()
    latents = torch.randn(16, 4, 48, 16, 16)
    content, _ = encoder(latents)
    assert content.shape == (16, 3, 8)
    # every slot and channel: mean 0, std 1 over the batch
    assert content.mean(0).abs().max() < 1e-5
    assert (content.std(0, unbiased=False) - 1).abs().max() < 1e-3
    single, _ = encoder(latents[:1])  # one clip in training: running statistics instead of a degenerate batch
    assert torch.isfinite(single).all() and single.abs().max() > 0
    encoder.eval()
    again, _ = encoder(latents[:1])
    assert torch.allclose(single, again)


def test_separate_encoder_takes_content_and_motion_from_two_networks_and_trains_each_by_its_own_output():
    content_net, motion_net = make_encoder(motion_dim=0), make_encoder(content_dim=0)
    assert content_net.head_m is None and motion_net.head_c is None  # a zero size drops the head
    assert content_net(torch.randn(1, 3, C, S, S))[1] is None and motion_net(torch.randn(1, 3, C, S, S))[0] is None
    both = SeparateContentEncoder(content_net, motion_net)
    z = torch.randn(2, 5, C, S, S)
    content, motion = both(z)
    assert content.shape == (2, K, CC) and motion.shape == (2, 5, CM)
    assert torch.equal(both.encode_content(z), content) and torch.equal(both.encode_motion(z), motion)
    assert torch.equal(content, content_net(z)[0]) and torch.equal(motion, motion_net(z)[1])
    both.encode_content(z).square().sum().backward()
    assert all(p.grad is None for p in motion_net.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in content_net.parameters())
    with pytest.raises(ValueError, match="content head"):
        SeparateContentEncoder(motion_net, content_net)


def test_max_pooled_stem_reads_which_colours_a_frame_holds_not_where():
    from motioncontent.models.encoder import ConvStem
    stem = ConvStem(3, 16, dim=32, channels=16, pool="max")
    frame = torch.randn(1, 3, 16, 16)
    shuffled = frame.flatten(2)[..., torch.randperm(256)].view_as(frame)  # the same pixels anywhere else
    recoloured = frame.clone()
    recoloured[..., 5, 7] = torch.tensor([3.0, -3.0, 3.0])  # one pixel of a new colour
    tokens = stem(torch.cat([frame, shuffled, recoloured]))
    assert tokens.shape == (3, 32)
    assert torch.allclose(tokens[0], tokens[1], atol=1e-5)
    assert not torch.allclose(tokens[0], tokens[2], atol=1e-3)
    # latent cells of 2x2 pixels (a pixel-unshuffled frame) are spread back to pixels: the same function of the frame
    cells = ConvStem(12, 8, dim=32, channels=16, pool="max", cell_size=2)
    cells.load_state_dict(stem.state_dict())
    assert torch.allclose(cells(torch.nn.functional.pixel_unshuffle(frame, 2)), tokens[:1], atol=1e-5)
    with pytest.raises(ValueError, match="stem pool"):
        ConvStem(3, 16, dim=32, pool="mean")


def test_height_in_the_max_stem_tells_a_colour_on_the_legs_from_the_same_colour_on_the_chest():
    from motioncontent.models.encoder import ConvStem
    stem = ConvStem(3, 16, dim=32, channels=16, pool="max", with_height=True)
    colour = torch.tensor([2.0, -2.0, 1.0])
    chest, legs, chest_moved_sideways = (torch.zeros(1, 3, 16, 16) for _ in range(3))
    chest[0, :, 4, 3] = colour
    legs[0, :, 12, 3] = colour
    chest_moved_sideways[0, :, 4, 11] = colour
    tokens = stem(torch.cat([chest, legs, chest_moved_sideways]))
    assert not torch.allclose(tokens[0], tokens[1], atol=1e-3)
    assert torch.allclose(tokens[0], tokens[2], atol=1e-5)  # across the frame it still does not see where
    with pytest.raises(ValueError, match="max stem"):
        ConvStem(3, 16, dim=32, with_height=True)


def test_max_over_pixels_matches_a_max_pool_after_the_mlp_in_values_and_gradients():
    from motioncontent.models.encoder import max_over_pixels
    mlp = torch.nn.Sequential(torch.nn.Conv2d(4, 16, 1), torch.nn.SiLU(), torch.nn.Conv2d(16, 16, 1), torch.nn.SiLU())
    pixels = torch.randn(6, 4, 16, 16, requires_grad=True)
    upstream = torch.randn(6, 16)  # a gradient that weighs the channels differently

    pooled = torch.nn.functional.adaptive_max_pool2d(mlp(pixels), 1).flatten(1)
    (pooled * upstream).sum().backward()
    expected = [pixels.grad.clone()] + [p.grad.clone() for p in mlp.parameters()]
    pixels.grad = None
    mlp.zero_grad()

    ours = max_over_pixels(mlp, pixels)
    assert torch.allclose(ours, pooled, atol=1e-6)
    (ours * upstream).sum().backward()
    got = [pixels.grad] + [p.grad for p in mlp.parameters()]
    assert pixels.grad.count_nonzero() <= 6 * 16 * 4  # only the maximum's pixels: at most C per frame
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(max_over_pixels(mlp, pixels), pooled, atol=1e-6)
