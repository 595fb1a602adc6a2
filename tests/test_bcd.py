"""BCDModule: the public API, learning on real sprites, checkpoints and the two training stages."""

import copy

import lightning
import pytest
import torch

from motioncontent.systems import BCDModule

TINY = dict(encoder_dim=32, encoder_depth=1, encoder_heads=2, num_content_queries=2, content_dim=16, motion_dim=8,
            num_groups=2, codebook_size=4, target_bits_per_frame=2.0, denoiser_dim=32, denoiser_depth=1,
            denoiser_heads=2, sample_steps=4, warmup_steps=1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return BCDModule(**TINY)


def test_api_shapes_and_determinism(tiny):
    video = torch.rand(3, 8, 3, 64, 64) * 2 - 1
    content, codes = tiny.encode(video)
    assert content.shape == (3, 2, 16) and codes.shape == (3, 8, 2) and codes.dtype == torch.int64
    assert codes.min() >= 0 and codes.max() < 4
    assert torch.equal(codes, tiny.encode(video)[1])  # argmax codes at inference
    out = tiny.decode(content, codes, seed=7)
    assert out.shape == video.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, tiny.decode(content, codes, seed=7))
    assert not torch.equal(out, tiny.decode(content, codes, seed=8))
    # transfer: content of one clip, motion (any length) of another
    assert tiny.transfer(video[:2], video[1:3, :5]).shape == (2, 5, 3, 64, 64)
    assert tiny.reconstruct(video).shape == video.shape
    assert tiny.training  # the API restores the mode it found


def test_cross_driving_takes_content_and_motion_from_different_segments(tiny, monkeypatch):
    seen = []
    original = tiny.encoder.forward
    monkeypatch.setattr(tiny.encoder, "forward", lambda z: seen.append(z.shape[1]) or original(z))
    video = torch.rand(2, 8, 3, 64, 64) * 2 - 1
    content, q, target = tiny.cross_drive(video)
    assert seen == [4, 4] and target.shape[1] == 4 and q.codes.shape == (2, 4, 2)
    assert torch.equal(target, tiny.codec.encode(video)[:, 4:])


def test_a_training_step_encodes_each_frame_once_per_view(monkeypatch):
    """A learned codec costs as much per frame as BCD's networks: B's latents serve as target, motion input and the
    contrastive term's content; A is encoded only if content reads latents; each view that changes the pixels
    (colour-permuted motion, shuffled content tiles) is encoded once."""
    def encoded_frames(content_from_pixels: bool = False, **options) -> list[int]:
        torch.manual_seed(0)
        model = BCDModule(**TINY, content_nce_weight=0.1, **options)
        if content_from_pixels:  # what content_codec="pixel" builds beside a learned codec: a codec of its own
            model.content_pixels = copy.deepcopy(model.codec)
        frames = []
        original = model.codec.encode
        monkeypatch.setattr(model.codec, "encode", lambda video: frames.append(video.shape[1]) or original(video))
        model.losses(torch.rand(2, 8, 3, 64, 64) * 2 - 1)
        return frames

    assert encoded_frames() == [4, 4]  # B, then A for content; B's content (contrastive term) reuses B's latents
    assert encoded_frames(motion_permute_channels=True) == [4, 4, 4]  # + B with its colours permuted
    assert encoded_frames(content_shuffle_patch=8) == [4, 4, 4]  # B, the tiled views of A and of B
    # content read from pixels: A never goes through the codec
    assert encoded_frames(content_from_pixels=True, motion_permute_channels=True) == [4, 4]


@pytest.mark.parametrize("stem_pool", ["flatten", "max"])
def test_separate_content_encoder_trains_both_networks_and_reloads(tmp_path, stem_pool):
    torch.manual_seed(0)
    model = BCDModule(**TINY, separate_content_encoder=True, content_stem_pool=stem_pool, content_nce_weight=0.1)
    video = torch.rand(4, 8, 3, 64, 64) * 2 - 1
    model.losses(video)["loss"].backward()
    # every parameter is trained (DDP's default find_unused_parameters=False needs that), each network by its part
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    path = tmp_path / "separate.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    reloaded = BCDModule.load_from_checkpoint(path)
    assert torch.equal(reloaded.encode(video)[0], model.encode(video)[0])
    assert torch.equal(reloaded.encode(video)[1], model.encode(video)[1])
    with pytest.raises(ValueError, match="needs separate_content_encoder"):
        BCDModule(**TINY, content_stem_pool="max")


def test_content_flip_mirrors_the_content_segment_in_training_only():
    torch.manual_seed(0)
    model = BCDModule(**TINY, content_flip_prob=1.0)
    seen = []
    original = model.encoder.forward
    model.encoder.forward = lambda z: seen.append(z) or original(z)
    video = torch.rand(2, 8, 3, 64, 64) * 2 - 1
    model.cross_drive(video)
    assert torch.equal(seen[0], model.codec.encode(video[:, :4].flip(-1)))  # content: the mirrored first half
    assert torch.equal(seen[1], model.codec.encode(video[:, 4:]))  # motion: untouched
    model.eval()
    model.cross_drive(video)
    assert torch.equal(seen[2], model.codec.encode(video[:, :4]))


def test_content_shuffle_and_motion_colour_views_reach_the_right_pass():
    torch.manual_seed(0)
    model = BCDModule(**TINY, content_shuffle_patch=8, motion_permute_channels=True)
    seen = []
    original = model.encoder.forward
    model.encoder.forward = lambda z: seen.append(z) or original(z)
    video = torch.rand(16, 8, 3, 64, 64) * 2 - 1
    model.cross_drive(video)
    content_z, motion_z = seen
    assert not torch.equal(content_z, model.codec.encode(video[:, :4]))  # content: tiles shuffled
    assert torch.allclose(content_z.sum(dim=(3, 4)), model.codec.encode(video[:, :4]).sum(dim=(3, 4)), atol=1e-3)
    colours = model.codec.decode(motion_z)
    assert torch.allclose(colours.sum(dim=2), video[:, 4:].sum(dim=2), atol=1e-5)  # motion: channels reordered
    assert not torch.equal(colours, video[:, 4:])
    # inference: one fixed shuffle for content, real frames for motion, so encode() is deterministic
    content, codes = model.encode(video[:2])
    assert torch.equal(content, model.encode(video[:2])[0])
    plain = BCDModule(**TINY)
    plain.load_state_dict(model.state_dict())
    assert torch.equal(codes, plain.encode(video[:2])[1]) and not torch.equal(content, plain.encode(video[:2])[0])


def test_temperature_anneals_from_start_to_end():
    model = BCDModule(**TINY, tau_start=2.0, tau_end=0.5, tau_anneal_steps=100)
    assert model.temperature(0) == pytest.approx(2.0)
    assert model.temperature(50) == pytest.approx(1.0)
    assert model.temperature(100) == model.temperature(10_000) == pytest.approx(0.5)


def test_target_in_kbps_converts_with_fps():
    assert BCDModule(**{**TINY, "target_kbps": 4.0, "fps": 25.0}).target_bits == pytest.approx(160.0)


def overfit_four_clips(lpc_datamodule, steps):
    """Train a small model on four real clips (cross-driving); return the losses, and the PSNR of each clip's motion
    half rebuilt from (content of its first half, codes of its second half) next to that of the mean frame."""
    torch.manual_seed(0)
    video = torch.stack([lpc_datamodule.train_set[i][0] for i in (0, 9, 18, 27)])  # 4 characters
    model = BCDModule(encoder_dim=64, encoder_depth=2, encoder_heads=4, num_content_queries=4, content_dim=32,
                      motion_dim=16, num_groups=4, codebook_size=8, target_bits_per_frame=6.0, denoiser_dim=192,
                      denoiser_depth=2, denoiser_heads=4, lr=3e-3, warmup_steps=20, tau_anneal_steps=200,
                      pixel_shift=-0.8, p_mean=0.5, p_std=1.4, ema_decay=0, sampler="euler", sample_steps=2)
    optimizer = model.configure_optimizers()["optimizer"]
    losses = []
    for step in range(steps):
        model.quantizer.temperature = model.temperature(step)
        loss = model.losses(video)["diffusion_loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    content, _ = model.encode(video[:, :4])
    _, codes = model.encode(video[:, 4:])
    rebuilt, target = (model.decode(content, codes) + 1) / 2, (video[:, 4:] + 1) / 2
    mean_frame = target.mean(dim=(0, 1), keepdim=True).expand_as(target)  # the best single image in MSE

    def psnr(x):
        return float(10 * torch.log10(1.0 / (x - target).square().mean()))

    return losses, psnr(rebuilt), psnr(mean_frame)


def test_denoising_loss_halves_on_four_sprite_clips(lpc_datamodule):
    losses, _, _ = overfit_four_clips(lpc_datamodule, 600)
    assert sum(losses[-20:]) / 20 < 0.55 * sum(losses[:20]) / 20


@pytest.mark.slow
def test_overfit_rebuilds_four_sprite_clips_at_25_db(lpc_datamodule):
    # ~5 minutes on 2 CPU cores. Measured: 24.4 dB after 3000 steps, 26.4-27.4 dB after 3900-4500 (mean frame 18.4).
    _, rebuilt, mean_frame = overfit_four_clips(lpc_datamodule, 4000)
    assert rebuilt >= 25.0, (rebuilt, mean_frame)


def test_content_gap_is_zero_exactly_when_the_denoiser_ignores_content():
    torch.manual_seed(0)
    model = BCDModule(**TINY, ema_decay=0).eval()
    with torch.no_grad():  # leave adaLN-Zero's identity start, so the network output depends on its inputs
        for p in model.denoiser.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    video = torch.rand(4, 8, 3, 64, 64) * 2 - 1
    gap = model.losses(video, generator=torch.Generator().manual_seed(0))["content_gap"]
    assert abs(float(gap)) > 1e-6
    assert "content_gap" not in model.losses(video)  # only with a fixed generator (validation)
    with torch.no_grad():  # cut both content paths: the adaLN pooled one and the tokens
        model.denoiser.content_mlp[2].weight.zero_()
        model.denoiser.content_mlp[2].bias.zero_()
        model.denoiser.content_proj.weight.zero_()
    gap = model.losses(video, generator=torch.Generator().manual_seed(0))["content_gap"]
    assert abs(float(gap)) < 1e-6


def test_ema_follows_the_weights_and_is_what_the_api_uses():
    torch.manual_seed(0)
    model = BCDModule(**TINY, ema_decay=0.5)
    optimizer = model.configure_optimizers()["optimizer"]
    video = torch.rand(2, 8, 3, 64, 64) * 2 - 1
    live, ema = model.networks(ema=False), model.networks()
    assert ema.denoiser is not live.denoiser and not any(p.requires_grad for p in model.ema.parameters())
    before = [p.detach().clone() for p in model.ema.parameters()]
    for _ in range(3):
        model.losses(video)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
        model.on_train_batch_end(None, None, 0)
    moved = [not torch.equal(a, b) for a, b in zip(before, model.ema.parameters())]
    assert any(moved)
    differs = [not torch.equal(a, b) for a, b in zip(model.ema["denoiser"].parameters(), live.denoiser.parameters())]
    assert any(differs)  # an average, not a copy
    # The API samples with the EMA networks: corrupting them changes the output, corrupting the live ones does not.
    content, codes = model.encode(video)
    out = model.decode(content, codes, seed=0)
    with torch.no_grad():
        for p in live.denoiser.parameters():
            p.add_(1.0)
    assert torch.equal(model.decode(content, codes, seed=0), out)
    assert BCDModule(**TINY, ema_decay=0).ema is None


def test_checkpoint_reloads_and_stage2_starts_as_stage1(tmp_path, tiny):
    path = tmp_path / "stage1.ckpt"
    torch.save({"state_dict": tiny.state_dict(), "hyper_parameters": dict(tiny.hparams)}, path)
    video = torch.rand(2, 6, 3, 64, 64) * 2 - 1
    content, codes = tiny.encode(video)
    stage2 = BCDModule(**TINY, temporal=True, stage1_checkpoint=str(path))
    assert len(stage2.denoiser.temporal_blocks) == TINY["denoiser_depth"]
    torch.testing.assert_close(stage2.encode(video)[0], content)
    # Zero-initialised temporal layers: stage 2 starts as exactly the stage-1 function.
    torch.testing.assert_close(stage2.decode(content, codes, seed=1), tiny.decode(content, codes, seed=1))
    with pytest.raises(ValueError, match="does not fit"):
        BCDModule(**{**TINY, "motion_dim": 16}, stage1_checkpoint=str(path))


def test_ema_encoder_keeps_content_statistics_of_its_own_outputs():
    torch.manual_seed(0)
    model = BCDModule(**TINY, ema_decay=0.9, content_norm=True).train()
    ema_encoder = model.ema["encoder"]
    ema_encoder.content_norm.momentum = 1.0  # running statistics = those of the last batch, to compare exactly
    with torch.no_grad():  # EMA weights unlike the live ones, as after some training
        ema_encoder.head_c.weight.add_(torch.randn_like(ema_encoder.head_c.weight))
    seen = []
    ema_encoder.head_c.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
    video = torch.rand(4, 8, 3, 64, 64) * 2 - 1
    model.losses(video)  # moves the live encoder's statistics
    model.on_train_batch_end(None, (video, None), 0)
    own = seen[-1].flatten(1)  # the EMA encoder's content (before the norm) on this batch's content segment
    assert torch.allclose(ema_encoder.content_norm.running_mean, own.mean(0), atol=1e-5)
    assert torch.allclose(ema_encoder.content_norm.running_var, own.var(0), rtol=1e-4)
    assert not torch.allclose(ema_encoder.content_norm.running_mean, model.encoder.content_norm.running_mean)


def test_content_warmup_and_dropout_hide_content_from_the_denoiser_only():
    torch.manual_seed(0)
    model = BCDModule(**TINY, content_warmup_steps=10, content_nce_weight=0.1, ema_decay=0)
    assert [model.content_scale(step) for step in (0, 10, 15, 20, 100)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    seen = []

    def record_content(module, args, kwargs, out):  # noqa: ANN001, ANN202
        seen.append(kwargs["content"].detach())  # what the denoiser was given

    model.denoiser.register_forward_hook(record_content, with_kwargs=True)
    video = torch.rand(4, 8, 3, 64, 64) * 2 - 1
    out = model.losses(video)  # step 0: inside the warm-up
    assert torch.count_nonzero(seen[-1]) == 0
    out["content_nce"].backward()  # the contrastive term still trains the content encoder during the warm-up
    assert model.encoder.head_c.weight.grad is not None and model.encoder.head_c.weight.grad.abs().sum() > 0
    dropped = BCDModule(**TINY, content_dropout=0.5, ema_decay=0)
    dropped.denoiser.register_forward_hook(record_content, with_kwargs=True)
    dropped.losses(torch.rand(64, 8, 3, 64, 64) * 2 - 1)
    zero_rows = (seen[-1].flatten(1).abs().sum(1) == 0).float().mean()
    assert 0.25 < zero_rows < 0.75  # about half the clips lose their content in training
    dropped.eval()
    dropped.losses(torch.rand(8, 8, 3, 64, 64) * 2 - 1)
    assert bool((seen[-1].flatten(1).abs().sum(1) > 0).all())  # never in evaluation


@pytest.mark.parametrize("detach", [False, True])
def test_content_detach_keeps_the_diffusion_gradient_out_of_the_content_encoder(detach):
    torch.manual_seed(0)
    model = BCDModule(**TINY, separate_content_encoder=True, content_nce_weight=0.1, content_detach=detach, ema_decay=0)
    with torch.no_grad():  # leave adaLN-Zero's identity start, so gradients reach the inputs
        for p in model.denoiser.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    video = torch.rand(4, 8, 3, 64, 64) * 2 - 1
    out = model.losses(video)
    out["diffusion_loss"].backward(retain_graph=True)
    content_grads = [p.grad for p in model.encoder.content.parameters()]
    reached = any(g is not None and g.abs().sum() > 0 for g in content_grads)
    assert reached != detach
    assert all(p.grad is not None for p in model.encoder.motion.parameters())  # codes still learn from it
    model.zero_grad()
    out["loss"].backward()  # the contrastive term trains the content encoder either way
    assert all(p.grad is not None for p in model.encoder.content.parameters())
    model.eval()  # and content reaches the denoiser's output as before (the detach is a training-time gradient rule)
    content, codes = model.encode(video)
    assert not torch.equal(model.decode(content, codes), model.decode(content.roll(1, 0), codes))
    with pytest.raises(ValueError, match="content_detach needs content_nce_weight"):
        BCDModule(**TINY, content_detach=True)


def test_content_guidance_weights_what_content_adds_to_the_samples():
    torch.manual_seed(0)
    model = BCDModule(**TINY, ema_decay=0)
    with torch.no_grad():  # leave adaLN-Zero's identity start, so content reaches the output
        for p in model.denoiser.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    content, codes = model.encode(torch.rand(2, 4, 3, 64, 64) * 2 - 1)
    plain = model.decode(content, codes, seed=3)
    model.hparams.content_guidance = 0.0  # no content at all: the samples of the null content
    torch.testing.assert_close(model.decode(content, codes, seed=3), model.decode(torch.zeros_like(content), codes,
                                                                                  seed=3))
    model.hparams.content_guidance = 2.0
    guided = model.decode(content, codes, seed=3)
    assert guided.shape == plain.shape and not torch.equal(guided, plain)
    with pytest.raises(ValueError, match="content guidance must be 0 or more"):
        BCDModule(**TINY, content_guidance=-1.0)


def test_frame_window_keeps_the_same_consecutive_frames_of_targets_and_motion():
    target = torch.arange(5 * 4, dtype=torch.float32).view(5, 4, 1, 1, 1).expand(5, 4, 2, 3, 3)
    motion = torch.arange(5 * 4, dtype=torch.float32).view(5, 4, 1).expand(5, 4, 6)
    cut_target, cut_motion = BCDModule.frame_window(target, motion, 2)
    assert cut_target.shape == (5, 2, 2, 3, 3) and cut_motion.shape == (5, 2, 6)
    frames = cut_target[:, :, 0, 0, 0]  # the frame numbers 4 * clip + time
    assert torch.equal(frames, cut_motion[:, :, 0])  # the same frames of both
    assert torch.equal(frames[:, 1] - frames[:, 0], torch.ones(5))  # consecutive
    assert torch.equal(frames // 4, torch.arange(5.0)[:, None].expand(5, 2))  # each clip keeps its own frames
    assert BCDModule.frame_window(target, motion, 4)[0] is target


def test_denoise_frames_shortens_the_denoised_clips_in_training_only():
    torch.manual_seed(0)
    model = BCDModule(**TINY, denoise_frames=2, ema_decay=0)
    frames = []
    model.denoiser.register_forward_hook(lambda module, args, out: frames.append(args[0].shape[1]))
    video = torch.rand(2, 8, 3, 64, 64) * 2 - 1
    model.losses(video)["loss"].backward()
    model.eval()
    model.losses(video, generator=torch.Generator().manual_seed(0))
    assert frames == [2, 4, 4]  # training: a 2-frame window of the 4-frame motion segment; validation: all (+ gap)
