"""Training through the command line, as `make train-sprites` runs it, on a shrunk config (configs/presets/tiny.yaml)."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import codec_callbacks_into
from motioncontent.systems import BCDModule
from test_cli import run

TINY_RUN = ["--config", "configs/sprites.yaml", "--config", "configs/presets/tiny.yaml"]


def fit(data_dir, logs, *extra):
    return run("fit", *TINY_RUN, "--data.init_args.source=lpc", f"--data.init_args.data_dir={data_dir}",
               f"--trainer.logger.init_args.save_dir={logs}", *extra, timeout=240)


def scalars(run_dir):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return set(events.Tags()["scalars"]), set(events.Tags()["images"])


def test_fit_leaves_checkpoint_logs_and_swap_grid(lpc_datamodule, tmp_path):
    result = fit(lpc_datamodule.data_dir, tmp_path / "logs")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "logs" / "sprites" / "version_0"
    assert (run_dir / "config.yaml").is_file()
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    for name in ("swap_grid.png", "swap_grid.gif"):
        assert (run_dir / "samples" / name).stat().st_size > 1000
    tags, images = scalars(run_dir)
    assert {"train/diffusion_loss", "train/rate_loss", "train/bits_soft", "train/bits_hard", "val/loss", "val/content_gap",
            "rate/bits_per_frame", "rate/kbps", "rate/capacity_bits_per_frame", "codebook/perplexity_mean",
            "codebook/dead_fraction"} <= tags
    assert {"codebook/usage", "samples/swap_grid", "samples/swap_grid_animated"} <= images

    model = BCDModule.load_from_checkpoint(checkpoint, map_location="cpu")
    assert model.hparams.encoder_dim == 32 and model.capacity_bits == pytest.approx(4.0)
    video = torch.stack([lpc_datamodule.test_set[i][0] for i in range(2)])
    assert model.encode(video)[1].shape == (2, 8, 2)

    result = run("validate", *TINY_RUN, "--data.init_args.source=lpc", f"--data.init_args.data_dir={lpc_datamodule.data_dir}",
                 f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}", f"--ckpt_path={checkpoint}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/diffusion_loss" in result.stdout


def test_ddp_on_two_cpu_processes(lpc_datamodule, tmp_path):
    """Also the content partners: rank 0 mines them and broadcasts the table, which the checkpoint then holds."""
    result = fit(lpc_datamodule.data_dir, tmp_path / "logs", "--config", "configs/trainer/ddp_sim.yaml",
                 "--config", "configs/presets/mined_partners.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "logs" / "sprites" / "version_0"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert "rate/bits_per_frame" in scalars(run_dir)[0] and "mining/same_character" in scalars(run_dir)[0]
    partner = checkpoint["callbacks"]["MineContentPartners"]["partner"]
    assert partner.shape == (9000, 8) and partner.min() >= -1 and partner.max() < 9000  # -1: no partner


def test_bf16_mixed_precision(lpc_datamodule, tmp_path):
    result = fit(lpc_datamodule.data_dir, tmp_path / "logs", "--trainer.precision=bf16-mixed")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "logs" / "sprites" / "version_0" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize("layout", [False, True], ids=["colour_content", "layout_content"])
def test_colour_content_preset_trains_and_reloads(lpc_datamodule, tmp_path, layout):
    # the preset's flags on the tiny model: separate colour-set content encoder, warm-up and dropout of content;
    # stacked with the layout preset: a layout stem whose content only the contrastive term trains
    extra = ["--config", "configs/presets/layout_content.yaml"] if layout else []
    result = run("fit", *TINY_RUN, "--config", "configs/presets/colour_content.yaml", *extra,
                 "--data.init_args.source=lpc", f"--data.init_args.data_dir={lpc_datamodule.data_dir}",
                 f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}", "--model.init_args.content_warmup_steps=1",
                 "--data.init_args.batch_size=4", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    name = "sprites_layout_content" if layout else "sprites_colour_content"
    checkpoint = tmp_path / "logs" / name / "version_0" / "checkpoints" / "last.ckpt"
    model = BCDModule.load_from_checkpoint(checkpoint, map_location="cpu")
    hp = model.hparams
    assert hp.encoder_dim == 32 and hp.separate_content_encoder
    assert hp.content_stem_pool == ("flatten" if layout else "max") and hp.content_detach == layout
    assert hp.content_dropout == pytest.approx(0.3) and hp.content_warmup_steps == 1 and hp.denoise_frames == 2


def test_sprites_latents_preset_trains_on_a_sprites_codec(lpc_datamodule, tmp_path):
    # a 2-step Sprites codec (the codec config, narrowed), then BCD on its latents with two preset stacks
    root, data = tmp_path, f"--data.init_args.data_dir={lpc_datamodule.data_dir}"
    callbacks = codec_callbacks_into("configs/autoencoder_sprites.yaml", root)
    codec = run("fit", "--config", "configs/autoencoder_sprites.yaml", "--config", str(callbacks),
                "--data.init_args.source=lpc", data, "--trainer.max_steps=2", "--trainer.max_time=null",
                "--trainer.limit_val_batches=1", "--trainer.val_check_interval=2",
                f"--trainer.logger.init_args.save_dir={root / 'logs'}", "--model.init_args.widths=[8, 16]",
                "--model.init_args.norm_groups=4", "--model.init_args.scale_batches=2", timeout=240)
    assert codec.returncode == 0, codec.stderr[-3000:]
    path = root / "checkpoints" / "autoencoder_sprites.ckpt"
    # the pixel-content stack, and the layout-content stack with content read from pixels (make train-sprites-latents)
    stacks = {"sprites_pixel_content": ("max", ["configs/presets/pixel_content.yaml"]),
              "sprites_layout_latents": ("flatten", ["configs/presets/layout_content.yaml", "--config",
                                                     "configs/presets/layout_latents.yaml", "--config",
                                                     "configs/presets/mined_partners.yaml"])}
    for name, (stem_pool, stack) in stacks.items():
        result = run("fit", *TINY_RUN, "--config", "configs/presets/colour_content.yaml", "--config",
                     "configs/presets/sprites_latents.yaml", "--config", *stack, "--data.init_args.source=lpc", data,
                     f"--model.init_args.codec_checkpoint={path}", f"--trainer.logger.init_args.save_dir={root / 'logs'}",
                     "--data.init_args.batch_size=4", timeout=240)
        assert result.returncode == 0, result.stderr[-3000:]
        model = BCDModule.load_from_checkpoint(root / "logs" / name / "version_0" / "checkpoints" / "last.ckpt",
                                               map_location="cpu")
        assert model.hparams.codec == "autoencoder" and model.hparams.sigma_data == 1.0
        assert model.hparams.separate_content_encoder and model.hparams.content_codec == "pixel"
        assert model.hparams.content_stem_pool == stem_pool
        assert (model.codec.latent_channels, model.codec.latent_size) == (4, 16)
        assert (model.encoder.content.in_channels, model.encoder.content.in_size) == (48, 16)  # pixels, folded 4 x 4
    # the appearance stack mined content partners for all 9000 training clips at 1/2 and at 4/5 of its 4 steps
    log = result.stdout + result.stderr
    assert "content partners mined at step 2: 9000 of 9000 clips" in log
    assert "content partners mined at step 4: 9000 of 9000 clips" in log
    # the appearance stack's mirrored content, its rate and its sampling settings travel with its checkpoint
    assert (model.hparams.content_flip_prob, model.hparams.target_bits_per_frame) == (0.5, 10.0)
    assert (model.hparams.sample_steps, model.hparams.content_guidance) == (8, 2.0)
    assert tuple(model.hparams.content_guidance_interval) == (0.0, 5.0)
