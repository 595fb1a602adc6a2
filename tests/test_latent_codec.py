"""BCD on the latents of a frozen frame codec: the project's autoencoder (through the CLI, as the configs run it)
and a user's diffusers AutoencoderKL (a random tiny one saved to a temporary folder; no downloads)."""

import pytest
import torch
import yaml

from conftest import codec_callbacks_into
from motioncontent.errors import MotionContentError
from motioncontent.systems import BCDModule
from test_autoencoder import smooth_frames
from test_cli import run

SMALL = dict(num_identities=12, clips_per_identity=2, clip_frames=20, image_size=32, num_frames=8, batch_size=4)


def small_data(prefix: str = "--data.init_args.") -> list[str]:
    return [f"{prefix}{k}={v}" for k, v in SMALL.items()]


SHORT_RUN = ["--trainer.max_steps=2", "--trainer.max_time=null", "--trainer.val_check_interval=2",
             "--trainer.limit_val_batches=1", "--trainer.log_every_n_steps=1"]
TINY_BCD = dict(encoder_dim=32, encoder_depth=1, encoder_heads=2, num_content_queries=2, content_dim=16, motion_dim=8,
                num_groups=2, codebook_size=4, target_bits_per_frame=2.0, denoiser_dim=32, denoiser_depth=1,
                denoiser_heads=2, sample_steps=2, warmup_steps=1)


@pytest.fixture(scope="module")
def codec_checkpoint(tmp_path_factory):
    """A tiny 32 px talking-head codec (downsampling 8) trained for 2 steps by `motioncontent fit`."""
    root = tmp_path_factory.mktemp("codec")
    callbacks = codec_callbacks_into("configs/autoencoder_talking_heads.yaml", root)
    result = run("fit", "--config", "configs/autoencoder_talking_heads.yaml", "--config", str(callbacks),
                 *small_data(), *SHORT_RUN,
                 f"--data.init_args.data_dir={root / 'data'}", f"--trainer.logger.init_args.save_dir={root / 'logs'}",
                 "--model.init_args.widths=[8, 16]", "--model.init_args.scale_batches=2",
                 "--model.init_args.procedural_bank=4", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "latent scale factor" in result.stdout + result.stderr
    path = root / "checkpoints" / "autoencoder_talking_heads_128.ckpt"
    assert path.is_file()
    return path, root


def test_bcd_fits_on_autoencoder_latents_through_the_cli(codec_checkpoint):
    path, root = codec_checkpoint
    args = [f"--model.init_args.{k}={v}" for k, v in TINY_BCD.items()]
    # Through the latent cache, as the config trains: one encoding pass, then cached latents in training.
    result = run("fit", "--config", "configs/talking_heads_128.yaml", *small_data(), *SHORT_RUN, *args,
                 "--model.init_args.image_size=32", "--model.init_args.patch_size=2",
                 f"--model.init_args.codec_checkpoint={path}",
                 f"--data.init_args.codec_checkpoint={path}", f"--data.init_args.data_dir={root / 'data'}",
                 f"--trainer.logger.init_args.save_dir={root / 'logs'}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    cache = root / "data" / "talking_heads" / "synthetic_32_latents"
    manifest = yaml.safe_load((cache / "manifest.json").read_text())
    train_clips = manifest["counts"]["clips"]
    assert manifest["counts"] == {"clips": train_clips, "frames": train_clips * 20, "latent_shape": [4, 4, 4]}
    assert "encoding latents" in result.stderr
    checkpoint = root / "logs" / "talking_heads_128" / "version_0" / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert [k for k in state if k.startswith("codec.")] == ["codec.codec_fingerprint"]  # no codec weights
    model = BCDModule.load_from_checkpoint(checkpoint, map_location="cpu")
    assert (model.codec.latent_channels, model.codec.latent_size) == (4, 4)
    video = smooth_frames(8, 32).view(1, 8, 3, 32, 32)
    assert model.reconstruct(video, steps=1).shape == video.shape


def test_frozen_codec_is_not_trained_nor_in_the_optimizer(codec_checkpoint):
    path, _ = codec_checkpoint
    model = BCDModule(image_size=32, codec="autoencoder", codec_checkpoint=str(path), sigma_data=1.0, **TINY_BCD)
    codec_net = model.codec._network
    before = [p.clone() for p in codec_net.parameters()]
    optimizer = model.configure_optimizers()["optimizer"]
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in codec_net.parameters()}
    model.train()
    assert not codec_net.training  # .train() on BCD does not reach it
    video = smooth_frames(8, 32).view(1, 8, 3, 32, 32)
    loss = model.losses(video)["loss"]
    loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in codec_net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, codec_net.parameters()))


def test_a_bcd_checkpoint_refuses_a_changed_codec(codec_checkpoint, tmp_path):
    path, _ = codec_checkpoint
    model = BCDModule(image_size=32, codec="autoencoder", codec_checkpoint=str(path), **TINY_BCD)
    state = model.state_dict()
    state["codec.codec_fingerprint"] = state["codec.codec_fingerprint"] + 1  # as if trained with another file
    with pytest.raises(MotionContentError, match="another frame codec"):
        model.load_state_dict(state)


def test_missing_codec_checkpoint_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "nowhere.ckpt"
    result = run("fit", "--config", "configs/talking_heads_128.yaml", f"--model.init_args.codec_checkpoint={missing}",
                 f"--data.init_args.data_dir={tmp_path}", timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("motioncontent: error: model.init_args.codec_checkpoint checkpoint not found")
    assert str(missing) in lines[-1]
    assert not any("Traceback" in line for line in lines)


def test_diffusers_autoencoder_kl_as_the_codec(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                                  up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16),
                                  layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=32,
                                  scaling_factor=0.5)
    vae.save_pretrained(tmp_path / "vae")
    model = BCDModule(image_size=32, codec="diffusers", codec_checkpoint=str(tmp_path / "vae"), sigma_data=1.0, **TINY_BCD)
    codec = model.codec
    assert (codec.latent_channels, codec.latent_size, codec.latent_scale) == (4, 16, 0.5)
    video = smooth_frames(4, 32).view(1, 4, 3, 32, 32)
    latents = codec.encode(video)
    expected = vae.eval().encode(video[0]).latent_dist.mean * 0.5  # the scaling factor from its config
    assert latents.shape == (1, 4, 4, 16, 16) and torch.allclose(latents[0], expected, atol=1e-5)
    assert codec.decode(latents).shape == video.shape
    assert not list(codec.parameters()) and "loss" in model.losses(video)
    with pytest.raises(MotionContentError, match="no diffusers AutoencoderKL"):
        BCDModule(image_size=32, codec="diffusers", codec_checkpoint=str(tmp_path), **TINY_BCD)


def test_content_can_read_pixels_while_motion_and_the_denoiser_read_the_codec_latents(codec_checkpoint):
    path, _ = codec_checkpoint
    model = BCDModule(image_size=32, codec="autoencoder", codec_checkpoint=str(path), sigma_data=1.0, **TINY_BCD,
                      separate_content_encoder=True, content_stem_pool="max", content_codec="pixel",
                      content_stem_height=True, pixel_unshuffle=4)
    content_net, motion_net = model.encoder.content, model.encoder.motion
    assert (content_net.in_channels, content_net.in_size) == (48, 8)  # 32 px frames folded 4x4, not 4 x 4 x 4 latents
    assert (motion_net.in_channels, motion_net.in_size) == (4, 4)
    video = smooth_frames(8, 32).view(1, 8, 3, 32, 32)
    seen = []
    content_net.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model.train()
    model.losses(video)["loss"].backward()
    assert torch.equal(seen[0], torch.nn.functional.pixel_unshuffle(video[0, :4], 4)[None])
    assert all(p.grad is not None for p in content_net.stem.parameters())
    assert not [k for k in model.state_dict() if k.startswith("content_pixels")]  # nothing stored for it
    with pytest.raises(MotionContentError, match="cached latents"):
        model.losses(model.codec.encode(video))
    with pytest.raises(ValueError, match="separate_content_encoder"):
        BCDModule(image_size=32, codec="autoencoder", codec_checkpoint=str(path), content_codec="pixel", **TINY_BCD)
