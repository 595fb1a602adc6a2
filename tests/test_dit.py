"""DiTDenoiser (METHOD.md section 6): shapes, adaLN-Zero, per-frame conditioning, frame independence in stage 1,
and a stage-2 temporal model that starts as exactly the stage-1 function and loads stage-1 checkpoints."""

from __future__ import annotations

import pytest
import torch

from motioncontent.models.dit import DiTDenoiser

CM, CC = 8, 16


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_dit(c: int = 3, size: int = 8, patch: int = 2, **kw) -> DiTDenoiser:
    cfg = dict(dim=32, depth=2, heads=2, motion_dim=CM, content_dim=CC, max_frames=8)
    cfg.update(kw)
    return DiTDenoiser(c, size, patch, **cfg)


def inputs(b: int = 2, t: int = 3, c: int = 3, size: int = 8, k: int = 4):
    return (torch.randn(b, t, c, size, size), torch.randn(b), torch.randn(b, t, CM), torch.randn(b, k, CC))


def randomise_zero_init(model: DiTDenoiser, std: float = 0.1) -> DiTDenoiser:
    """Give adaLN and the final layer non-zero weights, so every input can reach the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "adaLN_modulation" in name or name.startswith("final_layer.linear"):
                p.normal_(std=std)
    return model


def differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool((a - b).abs().max() > 1e-4)


@pytest.mark.parametrize("t,size,patch,c,k", [(1, 8, 2, 3, 1), (3, 8, 4, 4, 5), (2, 16, 2, 1, 3), (4, 12, 3, 2, 2)])
def test_output_has_the_input_shape(t, size, patch, c, k):
    model = randomise_zero_init(make_dit(c, size, patch))
    x, c_noise, motion, content = inputs(2, t, c, size, k)
    out = model(x, c_noise, motion, content)
    assert out.shape == x.shape  # the K content tokens are dropped
    assert torch.isfinite(out).all()
    # a per-frame noise level (B, T) is accepted too
    assert model(x, c_noise[:, None].expand(2, t), motion, content).shape == x.shape


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="patch_size"):
        make_dit(size=10, patch=4)
    with pytest.raises(ValueError, match="max_frames"):
        make_dit(temporal=True)(*inputs(t=9))


def test_adaln_zero_output_is_zero_at_init_then_learns():
    model = make_dit()
    args = inputs()
    assert torch.equal(model(*args), torch.zeros_like(args[0]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = torch.randn_like(args[0])
    (model(*args) - target).square().mean().backward()
    opt.step()
    assert model(*args).abs().max() > 0


@pytest.mark.parametrize("temporal", [False, True])
def test_every_parameter_gets_a_gradient(temporal):
    model = randomise_zero_init(make_dit(temporal=temporal))
    if temporal:
        with torch.no_grad():  # open the zero-init temporal output projections so their inputs get gradients
            for blk in model.temporal_blocks:
                blk.attn.proj.weight.normal_(std=0.1)
    model(*inputs()).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gets a zero gradient"


def test_motion_of_frame_t_changes_frame_t_only():
    model = randomise_zero_init(make_dit()).eval()
    x, c_noise, motion, content = inputs(t=3)
    out = model(x, c_noise, motion, content)
    motion2 = motion.clone()
    motion2[:, 1] += 1.0
    out2 = model(x, c_noise, motion2, content)
    assert differs(out2[:, 1], out[:, 1])
    torch.testing.assert_close(out2[:, [0, 2]], out[:, [0, 2]], atol=1e-6, rtol=0)


def test_content_changes_every_frame():
    model = randomise_zero_init(make_dit()).eval()
    x, c_noise, motion, content = inputs(t=3)
    out = model(x, c_noise, motion, content)
    out2 = model(x, c_noise, motion, content + torch.randn_like(content))
    for t in range(3):
        assert differs(out2[:, t], out[:, t]), f"content does not reach frame {t}"


def test_noise_level_changes_the_output():
    model = randomise_zero_init(make_dit()).eval()
    x, c_noise, motion, content = inputs(t=3)
    out = model(x, c_noise, motion, content)
    assert differs(model(x, c_noise + 0.5, motion, content), out)
    # a per-frame level moves only its own frame while the frames are independent
    per_frame = c_noise[:, None].repeat(1, 3)
    per_frame[:, 2] += 0.5
    out2 = model(x, per_frame, motion, content)
    assert differs(out2[:, 2], out[:, 2])
    torch.testing.assert_close(out2[:, :2], out[:, :2], atol=1e-6, rtol=0)


def test_stage1_frames_are_independent_images():
    model = randomise_zero_init(make_dit()).eval()
    x, c_noise, motion, content = inputs(t=4)
    out = model(x, c_noise, motion, content)
    x2 = x.clone()
    x2[:, 0] += torch.randn_like(x2[:, 0])
    out2 = model(x2, c_noise, motion, content)
    assert differs(out2[:, 0], out[:, 0])
    torch.testing.assert_close(out2[:, 1:], out[:, 1:], atol=1e-6, rtol=0)


def test_enable_temporal_keeps_the_function_then_mixes_frames():
    model = randomise_zero_init(make_dit()).eval()
    x, c_noise, motion, content = inputs(t=4)
    before = model(x, c_noise, motion, content)
    model.enable_temporal()
    assert model.temporal and len(model.temporal_blocks) == model.depth
    first = list(model.temporal_blocks)
    model.enable_temporal()  # idempotent: existing stage-2 layers are kept
    assert list(model.temporal_blocks) == first
    torch.testing.assert_close(model(x, c_noise, motion, content), before, atol=1e-6, rtol=0)

    with torch.no_grad():
        for blk in model.temporal_blocks:
            blk.attn.proj.weight.normal_(std=0.1)
    out = model(x, c_noise, motion, content)
    x2 = x.clone()
    x2[:, 0] += torch.randn_like(x2[:, 0])
    out2 = model(x2, c_noise, motion, content)
    for t in range(1, 4):
        assert differs(out2[:, t], out[:, t]), f"frame {t} does not see frame 0 through the temporal layers"


def test_enable_temporal_matches_model_dtype():
    model = make_dit().double()
    model.enable_temporal()
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    x, c_noise, motion, content = (a.double() for a in inputs())
    assert model(x, c_noise, motion, content).dtype == torch.float64


def test_stage1_checkpoint_loads_into_a_temporal_model():
    stage1 = randomise_zero_init(make_dit()).eval()
    assert not any(key.startswith("temporal_blocks.") for key in stage1.state_dict())
    stage2 = make_dit(temporal=True).eval()
    result = stage2.load_state_dict(stage1.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(key.startswith("temporal_blocks.") for key in result.missing_keys)
    args = inputs(t=3)
    torch.testing.assert_close(stage2(*args), stage1(*args), atol=1e-6, rtol=0)
