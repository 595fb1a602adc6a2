"""The frame autoencoder (models/autoencoder.py, systems/autoencoder.py) and the frozen codecs built on it."""

import math

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from motioncontent.data.transforms import uint8_to_signed
from motioncontent.errors import MotionContentError
from motioncontent.models.autoencoder import AutoencoderConfig, FrameAutoencoder, load_frame_autoencoder
from motioncontent.models.frame_codec import AutoencoderCodec
from motioncontent.systems.autoencoder import FrameAutoencoderModule, clip_frames, frame_quality

TINY = dict(latent_channels=4, widths=[8, 16], pixel_unshuffle=2, frames_per_clip=2, warmup_steps=1,
            scale_batches=2)


def smooth_frames(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) in [-1, 1]: random low-frequency images (an autoencoder can learn these quickly)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


class Clips(Dataset):
    def __init__(self, n: int, frames: int = 4, size: int = 16, seed: int = 0):
        self.video = smooth_frames(n * frames, size, seed).view(n, frames, 3, size, size)

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, i: int):
        return self.video[i], {"character": i}


class TinyClips(LightningDataModule):
    def train_dataloader(self):
        return DataLoader(Clips(16), batch_size=4, shuffle=True)

    def val_dataloader(self):
        return DataLoader(Clips(4, seed=1), batch_size=4)


@pytest.mark.parametrize("unshuffle, widths, factor", [(2, [8, 16], 4), (2, [8, 16, 16], 8), (4, [8], 4), (1, [8, 8, 16], 4)])
def test_latent_shapes_follow_the_downsampling_factor(unshuffle, widths, factor):
    cfg = AutoencoderConfig(latent_channels=4, widths=widths, pixel_unshuffle=unshuffle)
    model = FrameAutoencoder(cfg)
    x = smooth_frames(2, 32)
    mean, logvar = model.posterior(x)
    assert cfg.downsample == factor and mean.shape == logvar.shape == (2, 4, 32 // factor, 32 // factor)
    assert model.decode_raw(mean).shape == x.shape


def test_norm_groups_sets_every_group_norm_and_the_default_stays_ldms():
    def channels_per_group(cfg: AutoencoderConfig) -> set[tuple[int, int]]:
        return {(m.num_channels, m.num_channels // m.num_groups)
                for m in FrameAutoencoder(cfg).modules() if isinstance(m, torch.nn.GroupNorm)}

    # LDM's 32 groups: an instance norm (one channel per group) at width 32, two channels per group at 64
    assert channels_per_group(AutoencoderConfig(widths=[32, 64])) == {(32, 1), (64, 2)}
    assert channels_per_group(AutoencoderConfig(widths=[32, 64], norm_groups=8)) == {(32, 4), (64, 8)}
    assert channels_per_group(AutoencoderConfig(widths=[48, 96], norm_groups=1)) == {(48, 48), (96, 96)}


def test_encode_refuses_an_unfitted_scale():
    with pytest.raises(MotionContentError, match="no fitted latent scale"):
        FrameAutoencoder(AutoencoderConfig(widths=[8])).encode(smooth_frames(1))


def test_latent_scale_gives_unit_variance_on_the_frames_it_was_fitted_on():
    torch.manual_seed(0)
    model = FrameAutoencoder(AutoencoderConfig(widths=[8, 16]))
    batches = [smooth_frames(8, seed=s) * 0.3 for s in range(3)]  # scaled, so the raw latents are far from std 1
    raw_std = torch.cat([model.posterior(b)[0] for b in batches]).std().item()
    scale = model.fit_latent_scale(batches)
    latents = torch.cat([model.encode(b) for b in batches])
    assert scale == pytest.approx(1 / raw_std, rel=1e-3)
    assert latents.var().item() == pytest.approx(1.0, abs=1e-3)
    # Decoding undoes the scale: the same frames as decoding the unscaled posterior mean.
    assert torch.allclose(model.decode(latents[:8]), model.decode_raw(model.posterior(batches[0])[0]), atol=1e-5)


def test_clip_frames_draws_per_clip_and_keeps_all_when_asked():
    video = torch.arange(3 * 5, dtype=torch.float32).view(3, 5, 1, 1, 1).expand(3, 5, 3, 2, 2)
    picked = clip_frames(video, 2, torch.Generator().manual_seed(0))
    assert picked.shape == (6, 3, 2, 2)
    assert [int(v) // 5 for v in picked[:, 0, 0, 0]] == [0, 0, 1, 1, 2, 2]  # two frames from each clip
    assert len(set(picked[:, 0, 0, 0].tolist())) == 6
    assert clip_frames(video, None).shape == (15, 3, 2, 2)


def test_training_reduces_reconstruction_error_on_a_tiny_model():
    torch.manual_seed(0)
    module = FrameAutoencoderModule(**{**TINY, "lr": 3e-3})
    optimizer = module.configure_optimizers()["optimizer"]
    frames = smooth_frames(8)
    before = frame_quality(module.losses(frames, sample=False)["reconstruction"], frames)[0]
    for _ in range(150):
        loss = module.losses(frames)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after, ssim = frame_quality(module.losses(frames, sample=False)["reconstruction"], frames)
    assert after > before + 8 and after > 22, (before, after)
    assert ssim > 0.8


def test_the_adversarial_term_starts_after_warm_up_and_trains_only_the_discriminator():
    torch.manual_seed(0)
    frames = smooth_frames(4)
    off = FrameAutoencoderModule(**TINY, adversarial_weight=0.5, adversarial_start=10)  # global_step 0 < 10
    assert "discriminator" not in off.losses(frames)
    module = FrameAutoencoderModule(**TINY, adversarial_weight=0.5, adversarial_start=0)
    out = module.losses(frames)
    assert {"generator", "discriminator"} <= set(out)
    out["generator"].backward(retain_graph=True)  # the generator term reaches the autoencoder only
    assert all(p.grad is None for p in module.discriminator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.autoencoder.parameters())
    module.zero_grad(set_to_none=True)
    out["discriminator"].backward()  # the discriminator term reaches the discriminator only
    assert all(p.grad is None for p in module.autoencoder.parameters())
    assert all(p.grad is not None for p in module.discriminator.parameters())


def test_procedural_frames_join_every_training_batch_from_a_seeded_bank(monkeypatch):
    module = FrameAutoencoderModule(**TINY, procedural_frames=3, procedural_bank=4, procedural_seed=7)
    seen = []
    monkeypatch.setattr(module, "losses", lambda frames: seen.append(frames) or {"loss": frames.mean()})
    module.log = lambda *args, **kwargs: None  # no trainer here
    video = smooth_frames(8).view(2, 4, 3, 16, 16)
    module.training_step((video, {}), 0)
    frames = seen[0]
    assert frames.shape == (2 * 2 + 3, 3, 16, 16)  # frames_per_clip 2 of each clip, then 3 made images
    bank = uint8_to_signed(module.procedural_images)
    assert bank.shape == (4, 3, 16, 16)
    for image in frames[4:]:  # each is a bank image, possibly mirrored
        assert any(torch.equal(image, b) or torch.equal(image, b.flip(-1)) for b in bank)
    other = FrameAutoencoderModule(**TINY, procedural_frames=3, procedural_bank=4, procedural_seed=7)
    other.procedural_batch(1, 16)
    assert torch.equal(other.procedural_images, module.procedural_images)  # a resumed run sees the same bank
    with pytest.raises(ValueError, match="RGB"):
        FrameAutoencoderModule(**TINY, image_channels=1, procedural_frames=2)


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """A tiny autoencoder fitted by Lightning for 4 steps; the checkpoint written at the end carries its scale."""
    root = tmp_path_factory.mktemp("autoencoder")
    module = FrameAutoencoderModule(**TINY, adversarial_weight=0.1, adversarial_start=2)
    checkpoint = ModelCheckpoint(dirpath=root, filename="codec", enable_version_counter=False, every_n_train_steps=2)
    trainer = Trainer(max_steps=4, accelerator="cpu", logger=False, callbacks=[checkpoint], enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=1, val_check_interval=2, default_root_dir=root)
    trainer.fit(module, TinyClips())
    return root / "codec.ckpt", module


def test_checkpoint_written_at_the_end_of_training_carries_the_fitted_scale(trained_checkpoint):
    path, module = trained_checkpoint
    scale = float(module.autoencoder.latent_scale)
    assert scale > 0 and math.isfinite(scale)
    loaded = load_frame_autoencoder(path)
    assert float(loaded.latent_scale) == pytest.approx(scale)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    frames = smooth_frames(2)
    assert torch.allclose(loaded.encode(frames), module.autoencoder.eval().encode(frames), atol=1e-5)


def test_checkpoints_from_before_norm_groups_load_with_ldms_groups(tmp_path, trained_checkpoint):
    checkpoint = torch.load(trained_checkpoint[0], map_location="cpu", weights_only=True)
    del checkpoint["frame_autoencoder"]["config"]["norm_groups"]  # as written before the option existed
    torch.save(checkpoint, tmp_path / "old.ckpt")
    assert load_frame_autoencoder(tmp_path / "old.ckpt").cfg.norm_groups == 32


def test_autoencoder_codec_round_trip_shapes(trained_checkpoint):
    codec = AutoencoderCodec(trained_checkpoint[0], image_size=16)
    video = smooth_frames(6).view(2, 3, 3, 16, 16)
    latents = codec.encode(video)
    assert (codec.latent_channels, codec.latent_size) == (4, 4) and latents.shape == (2, 3, 4, 4, 4)
    frames = codec.decode(latents)
    assert frames.shape == video.shape and frames.abs().max() <= 1.0
    assert not list(codec.parameters())  # frozen and outside the module tree: nothing for an optimizer to find
    assert set(codec.state_dict()) == {"codec_fingerprint"}


def test_missing_or_foreign_checkpoints_are_one_clear_error(tmp_path, trained_checkpoint):
    with pytest.raises(MotionContentError, match="checkpoint not found"):
        load_frame_autoencoder(tmp_path / "missing.ckpt")
    foreign = tmp_path / "bcd.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "motioncontent.systems.BCDModule"}}, foreign)
    with pytest.raises(MotionContentError, match="not a frame autoencoder checkpoint.*BCDModule"):
        load_frame_autoencoder(foreign)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(MotionContentError, match="not a readable PyTorch checkpoint"):
        load_frame_autoencoder(garbage)
    with pytest.raises(MotionContentError, match="not divisible"):
        AutoencoderCodec(trained_checkpoint[0], image_size=18)


def test_training_ssim_equals_torchmetrics_ssim():
    from torchmetrics.functional.image import structural_similarity_index_measure

    from motioncontent.models.ssim import ssim

    a = (smooth_frames(4, 32) + 1) / 2
    for noise in (0.02, 0.2):
        b = (a + noise * torch.randn(a.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
        expected = float(structural_similarity_index_measure(b, a, data_range=1.0))
        assert float(ssim(b, a, data_range=1.0)) == pytest.approx(expected, abs=2e-3)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)
