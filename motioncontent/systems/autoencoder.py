"""FrameAutoencoderModule: trains the frame tokenizer of METHOD.md section 3 (models/autoencoder.py) on single frames.

Any clip DataModule feeds it (Sprites, talking heads): batches are clips (B, T, C, H, W) in [-1, 1], of which
`frames_per_clip` random frames per clip are trained on (neighbouring frames are nearly equal, so more per clip
cost time and add little). Loss: L1 + ssim_weight * (1 - SSIM) + kl_weight * KL, plus an optional hinge patch
adversarial loss from step `adversarial_start` on. When training ends the latent scale factor is fitted on
training frames and the last checkpoint is written again with it (FrameAutoencoder.latent_scale, a buffer).

The SSIM loss term is models/ssim.py (the same Gaussian-window SSIM as torchmetrics', several times faster on a
CPU); validation, test and benchmarks/codec_quality.py report torchmetrics' SSIM.

`procedural_frames` adds that many dead-leaves images (data/procedural_images.py) to every training batch, drawn
from a bank made once per run from a seed: a codec trained on synthetic faces alone does not generalise to real
video, one that also sees shapes and textures at every scale does (README "Latent frame codec").
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import nn
from torchmetrics import MeanMetric

from motioncontent.data.procedural_images import dead_leaves_bank
from motioncontent.data.transforms import uint8_to_signed
from motioncontent.eval.frame_metrics import frame_metrics
from motioncontent.models.autoencoder import (CHECKPOINT_KEY, AutoencoderConfig, FrameAutoencoder,
                                              autoencoder_checkpoint_entry, kl_divergence)
from motioncontent.models.patch_discriminator import (PatchDiscriminator, hinge_discriminator_loss,
                                                      hinge_generator_loss)
from motioncontent.models.ssim import ssim
from motioncontent.systems.schedules import trainer_max_steps, warmup_cosine

log = logging.getLogger(__name__)


def clip_frames(video: torch.Tensor, per_clip: int | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, T, C, H, W) -> (B * k, C, H, W): k random frames of each clip (all T when per_clip is None)."""
    b, t = video.shape[:2]
    if per_clip is None or per_clip >= t:
        return video.flatten(0, 1)
    picks = torch.rand(b, t, generator=generator).argsort(dim=1)[:, :per_clip].to(video.device)
    return video[torch.arange(b, device=video.device)[:, None], picks].flatten(0, 1)


def frame_quality(reconstruction: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean per-frame PSNR (dB) and SSIM of frames (N, C, H, W) in [-1, 1], measured in [0, 1] (eval/frame_metrics.py,
    the benchmarks' metrics, on N one-frame clips)."""
    metrics = frame_metrics(reconstruction.clamp(-1, 1)[:, None], frames[:, None])
    return metrics["psnr"].mean(), metrics["ssim"].mean()


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Parameters of module do not require grad inside: gradients flow through it to its input only."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class FrameAutoencoderModule(LightningModule):
    """Args:
        latent_channels, widths, blocks_per_level, pixel_unshuffle, norm_groups: the network
            (models/autoencoder.py AutoencoderConfig);
            widths are the channels per level; downsampling = pixel_unshuffle * 2 ** (len(widths) - 1), e.g.
            2 * 2 = 4 (Sprites config), 4 * 2 = 8 (talking-heads config).
        image_channels: of the frames.
        frames_per_clip: frames drawn from each training clip (None: all).
        l1_weight, ssim_weight, kl_weight: the reconstruction loss. LDM's KL-f8 also uses kl_weight 1e-6, but
            against an L1 summed over pixels; this L1 is a mean, so the same 1e-6 weighs the KL C*H*W times
            more (12288x at 64 px). On Sprites, 1e-10 (about LDM's balance) changed nothing in 1500 steps and
            gave +0.14 dB after 8000 (README "Latent frame codec"), so the Sprites config uses it.
        adversarial_weight, adversarial_start: patch GAN (0: off) and the step it starts at (after warm-up the
            reconstruction is good enough for the discriminator's signal to be about detail, not layout).
        discriminator_width, discriminator_layers: its size.
        lr, discriminator_lr, warmup_steps: AdamW (discriminator betas (0.5, 0.9) as LDM), linear warm-up.
        cosine_decay: after the warm-up, decay the learning rates by a cosine to 10% at trainer.max_steps
            (False: constant after the warm-up). Only the decayed run was measured on Sprites (README).
        scale_batches: training batches the latent scale is fitted on at the end of training.
        procedural_frames: dead-leaves images added to each training batch (0: off; RGB codecs only).
        procedural_bank: how many are made when training starts (seeded by procedural_seed; about 40 ms each
            at 128 px on one CPU thread) and drawn from, with random horizontal flips.
    """

    def __init__(
        self,
        image_channels: int = 3,
        latent_channels: int = 4,
        widths: list[int] | None = None,
        blocks_per_level: int = 1,
        pixel_unshuffle: int = 2,
        norm_groups: int = 32,
        frames_per_clip: int | None = 2,
        l1_weight: float = 1.0,
        ssim_weight: float = 0.2,
        kl_weight: float = 1e-6,
        adversarial_weight: float = 0.0,
        adversarial_start: int = 5000,
        discriminator_width: int = 32,
        discriminator_layers: int = 3,
        lr: float = 1e-3,
        discriminator_lr: float = 2e-4,
        warmup_steps: int = 200,
        cosine_decay: bool = False,
        scale_batches: int = 20,
        procedural_frames: int = 0,
        procedural_bank: int = 2048,
        procedural_seed: int = 0,
    ):
        super().__init__()
        if procedural_frames and image_channels != 3:
            raise ValueError(f"procedural_frames needs RGB frames; this codec has image_channels={image_channels}")
        self.save_hyperparameters()
        self.config = AutoencoderConfig(image_channels, latent_channels, list(widths or [64, 128]),
                                         blocks_per_level, pixel_unshuffle, norm_groups)
        self.autoencoder = FrameAutoencoder(self.config)
        self.discriminator = (PatchDiscriminator(image_channels, discriminator_width, discriminator_layers)
                              if adversarial_weight > 0 else None)
        # Frame-weighted means over the split. MeanMetric reduces (sum, weight) across DDP ranks; Lightning's own
        # sync_dist epoch mean averages the per-rank batch sizes in an integer tensor, which is wrong whenever the
        # split does not divide over the ranks (Lightning issue #21859; BCDModule's evaluation has the numbers).
        self.quality = nn.ModuleDict({f"{stage}_{name}": MeanMetric() for stage in ("val", "test")
                                      for name in ("l1", "psnr", "ssim")})
        self.procedural_images: torch.Tensor | None = None  # uint8 bank, made at the first training step

    @property
    def adversarial_on(self) -> bool:
        return self.discriminator is not None and self.global_step >= self.hparams.adversarial_start

    def losses(self, frames: torch.Tensor, sample: bool = True) -> dict[str, torch.Tensor]:
        """All loss terms for frames (N, C, H, W); `sample`: decode a posterior sample (training) or the mean."""
        hp = self.hparams
        mean, logvar = self.autoencoder.posterior(frames)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        reconstruction = self.autoencoder.decode_raw(z)
        out = {"l1": F.l1_loss(reconstruction, frames), "kl": kl_divergence(mean, logvar)}
        # SSIM on [0, 1] with data_range 1; the clamp keeps its variance terms in the range SSIM was defined on.
        out["ssim"] = ssim((reconstruction.clamp(-1, 1) + 1) / 2, (frames + 1) / 2, data_range=1.0)
        loss = hp.l1_weight * out["l1"] + hp.ssim_weight * (1 - out["ssim"]) + hp.kl_weight * out["kl"]
        if self.adversarial_on:
            assert self.discriminator is not None
            with frozen(self.discriminator):  # the generator term must not train the discriminator
                out["generator"] = hinge_generator_loss(self.discriminator(reconstruction))
            out["discriminator"] = hinge_discriminator_loss(self.discriminator(frames),
                                                            self.discriminator(reconstruction.detach()))
            # One optimizer for both networks: the discriminator term reaches only the discriminator (detached
            # input), the generator term only the autoencoder (frozen discriminator), so a plain sum is two
            # separate updates in one step, and global_step keeps counting batches.
            loss = loss + hp.adversarial_weight * out["generator"] + out["discriminator"]
        out["loss"] = loss
        out["reconstruction"] = reconstruction.detach()
        return out

    def procedural_batch(self, count: int, size: int) -> torch.Tensor:
        """(count, 3, size, size) dead-leaves frames in [-1, 1] from the run's bank (made on the first call)."""
        hp = self.hparams
        if self.procedural_images is None or self.procedural_images.shape[-1] != size:
            started = time.perf_counter()
            self.procedural_images = dead_leaves_bank(hp.procedural_bank, size, hp.procedural_seed)
            log.info("made %d dead-leaves images at %d px in %.0f s", hp.procedural_bank, size,
                     time.perf_counter() - started)
        picks = torch.randint(0, len(self.procedural_images), (count,))
        images = uint8_to_signed(self.procedural_images[picks].to(self.device))
        flip = torch.rand(count) < 0.5
        images[flip] = images[flip].flip(-1)
        return images

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        frames = clip_frames(batch[0], self.hparams.frames_per_clip)
        if self.hparams.procedural_frames:
            frames = torch.cat([frames, self.procedural_batch(self.hparams.procedural_frames, frames.shape[-1])])
        out = self.losses(frames)
        for name, value in out.items():
            if name != "reconstruction":
                self.log(f"train/{name}", value, prog_bar=name in ("loss", "l1"), batch_size=frames.shape[0])
        return out["loss"]

    def _log_quality(self, stage: str, figures: dict[str, torch.Tensor], frames: int) -> None:
        for name, value in figures.items():
            metric = self.quality[f"{stage}_{name}"]
            metric.update(value, weight=frames)
            self.log(f"{stage}/{name}", metric, prog_bar=name != "l1")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        frames = batch[0].flatten(0, 1)
        out = self.losses(frames, sample=False)
        psnr, ssim = frame_quality(out["reconstruction"], frames)
        self._log_quality("val", {"l1": out["l1"], "psnr": psnr, "ssim": ssim}, frames.shape[0])

    def test_step(self, batch: Any, batch_idx: int) -> None:
        frames = batch[0].flatten(0, 1)
        psnr, ssim = frame_quality(self.autoencoder.decode_raw(self.autoencoder.posterior(frames)[0]), frames)
        self._log_quality("test", {"psnr": psnr, "ssim": ssim}, frames.shape[0])

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        groups = [{"params": list(self.autoencoder.parameters()), "lr": hp.lr, "betas": (0.9, 0.99)}]
        if self.discriminator is not None:
            groups.append({"params": list(self.discriminator.parameters()), "lr": hp.discriminator_lr,
                           "betas": (0.5, 0.9)})
        # fused: one kernel per step for all parameters (AdamW bookkeeping was ~15% of a CPU step otherwise).
        optimizer = torch.optim.AdamW(groups, weight_decay=0.0, fused=True)
        schedule = warmup_cosine(hp.warmup_steps, trainer_max_steps(self) if hp.cosine_decay else None)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- the latent scale, and checkpoints that carry it ---------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = autoencoder_checkpoint_entry(self.config)

    def fit_latent_scale(self, loader: Any, max_batches: int) -> float:
        """Fit the scale on up to max_batches batches of loader (all frames of each clip); DDP ranks agree."""
        was_training = self.training
        self.eval()

        def batches() -> Iterator[torch.Tensor]:
            for i, batch in enumerate(loader):
                if i >= max_batches:
                    break
                yield batch[0].flatten(0, 1).to(self.device)

        scale = self.autoencoder.fit_latent_scale(batches())
        # One scale for every rank: the mean of the ranks' variances (equal frame counts per rank under DDP).
        variance = self.trainer.strategy.reduce(torch.tensor(scale**-2.0, device=self.device), reduce_op="mean")
        self.autoencoder.latent_scale.fill_(float(variance) ** -0.5)
        self.train(was_training)
        return float(self.autoencoder.latent_scale)

    def on_train_end(self) -> None:
        scale = self.fit_latent_scale(self.trainer.train_dataloader, self.hparams.scale_batches)
        if self.trainer.is_global_zero:
            log.info("latent scale factor: %.5f (fitted on up to %d training batches)", scale, self.hparams.scale_batches)
        # The checkpoint callbacks have already written their files (their on_train_end runs before this hook):
        # write the latest of each again with the scale, under a temporary name renamed into place, so a crash
        # leaves the old file whole. A callback that has written nothing yet gets its own file name.
        for callback in self.trainer.checkpoint_callbacks:
            paths = {p for p in (getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", "")) if p}
            if not paths and hasattr(callback, "format_checkpoint_name"):
                paths = {callback.format_checkpoint_name({"epoch": self.current_epoch, "step": self.global_step})}
            for path in map(Path, paths):
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                self.trainer.save_checkpoint(tmp)
                if self.trainer.is_global_zero:
                    os.replace(tmp, path)
                    log.info("wrote %s with the latent scale", path)
