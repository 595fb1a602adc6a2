"""BCDModule: Bitrate-Controlled Diffusion (METHOD.md sections 2-8) as one LightningModule.

The whole flow reads here, top to bottom:

    video (B, T, C, H, W) in [-1, 1]
      -> codec.encode            latents z (B, T, c, h, w)                       models/frame_codec.py
      -> encoder                 content (B, K, C_c), motion (B, T, C_m)        models/encoder.py
      -> quantizer               codes (B, T, N), quantized motion (B, T, C_m)  models/quantizer.py
      -> EDM + DiT denoiser      rebuilds z from (content, quantized motion)     diffusion/edm.py, models/dit.py
      -> codec.decode            frames

Training uses cross-driving (METHOD 8.2): content from the first segment of a clip, motion from the rest, and the
diffusion loss on the rest only, plus lambda * (bits/frame - target)^2 (METHOD 5.2). All hyperparameters are
plain values, so a checkpoint rebuilds the model by itself (`BCDModule.load_from_checkpoint(path)`).
"""

from __future__ import annotations

import copy
from typing import Any, Literal, NamedTuple

import torch
from lightning.fabric.utilities.seed import reset_seed
from lightning.pytorch import LightningModule
from torch import nn

from motioncontent.diffusion.edm import EDM, check_guidance, guided_denoiser
from motioncontent.diffusion.samplers import SAMPLERS, initial_noise
from motioncontent.errors import CheckpointError, MotionContentError
from motioncontent.models.baseline_quantizers import FSQQuantizer, VQQuantizer
from motioncontent.models.batch_random import batch_random, split_batch
from motioncontent.models.contrastive import content_info_nce
from motioncontent.models.dit import DiTDenoiser
from motioncontent.models.encoder import MotionContentEncoder, SeparateContentEncoder
from motioncontent.models.frame_codec import AutoencoderCodec, DiffusersVAECodec, FrameCodec, FrozenCodec, PixelCodec
from motioncontent.models.quantizer import GroupGumbelQuantizer, QuantizerOutput
from motioncontent.models.rate import bits_to_kbps, code_bits_per_frame, kbps_to_bits, rate_loss, soft_bits_per_frame
from motioncontent.models.views import permute_channels, random_hflip, shuffle_patches
from motioncontent.systems.schedules import budget_decay, budget_progress, warmup_cosine


def build_codec(name: str, channels: int, image_size: int, pixel_unshuffle: int, pixel_shift: float,
                checkpoint: str | None = None) -> FrameCodec:
    """`pixel` (lossless), or a frozen learned codec read from `checkpoint`: `autoencoder` (a FrameAutoencoderModule
    checkpoint) or `diffusers` (a local AutoencoderKL folder). Frozen codecs are not in BCD's optimizer or state_dict."""
    if name == "pixel":
        return PixelCodec(channels, image_size, unshuffle=pixel_unshuffle, shift=pixel_shift)
    if name in ("autoencoder", "diffusers"):
        if not checkpoint:
            raise MotionContentError(f"codec '{name}' needs model.codec_checkpoint (the path of the "
                                     + ("autoencoder checkpoint)" if name == "autoencoder" else "AutoencoderKL folder)"))
        return AutoencoderCodec(checkpoint, image_size) if name == "autoencoder" else DiffusersVAECodec(checkpoint, image_size)
    raise ValueError(f"unknown codec '{name}' (available: pixel, autoencoder, diffusers)")


def build_quantizer(name: str, dim: int, num_groups: int, codebook_size: int, alpha: float,
                    fsq_levels: list[int]) -> nn.Module:
    if name == "gumbel":
        return GroupGumbelQuantizer(dim, num_groups, codebook_size, alpha=alpha)
    if name == "vq":
        return VQQuantizer(dim, num_groups, codebook_size)
    if name == "fsq":
        return FSQQuantizer(dim, levels=fsq_levels)
    raise ValueError(f"unknown quantizer '{name}' (available: gumbel, vq, fsq)")


# The figures validation and test log (as val/<name>), in the fixed order of the table every rank reduces.
_EVAL_METRICS = ("loss", "diffusion_loss", "rate_loss", "bits_soft", "kbps_soft", "bits_hard", "content_gap",
                 "content_nce", "aux_loss")


def _eval_table(device: torch.device) -> torch.Tensor:
    """(len(_EVAL_METRICS), 2) zeros: per metric, the sum of batch figure x clips, and the clips."""
    return torch.zeros(len(_EVAL_METRICS), 2, dtype=torch.float32 if device.type == "mps" else torch.float64,
                       device=device)  # float64 (MPS has none): clip counts and sums stay exact over large splits


class Networks(NamedTuple):
    """The trained parts: the live ones, or their exponential moving average (EMA) used for sampling."""

    encoder: nn.Module
    quantizer: nn.Module
    denoiser: nn.Module


class BCDModule(LightningModule):
    """Bitrate-Controlled Diffusion: content/motion encoder, group quantizer, DiT denoiser, EDM.

    Public API (videos are (B, T, C, H, W) in [-1, 1]):
        encode(video) -> (content (B, K, C_c), codes (B, T, N))
        decode(content, codes, steps=None, seed=0) -> video
        transfer(content_video, motion_video, steps=None, seed=0) -> video with the first's content, the second's motion
        reconstruct(video, steps=None, seed=0) -> video through its own content and motion

    Args (sizes; see configs/sprites.yaml for a commented set):
        image_size, channels, fps: those of the data (the run config sets model and data alike; the talking-head
            data module checks image_size); fps converts bits to kbps.
        codec, pixel_unshuffle, pixel_shift: frame codec; `pixel` with unshuffle 4 turns 64x64x3 into 16x16x48
            latents of (pixels - pixel_shift), so mostly-black frames can be centred for EDM.
        codec_checkpoint: for `autoencoder`, a FrameAutoencoderModule checkpoint (`make train-autoencoder-...`);
            for `diffusers`, a local AutoencoderKL folder. Frozen, and not stored in BCD checkpoints (they record
            the path and a fingerprint of the file; see models/frame_codec.py). Its latents have unit variance,
            so set sigma_data to 1.0 with them.
        encoder_*: transformer over one token per frame with `num_content_queries` content queries.
        quantizer: `gumbel` (BCD's rate-controlled group quantizer) or `vq` / `fsq` baselines (no rate loss).
        num_groups, codebook_size: N groups of E entries; capacity N * log2(E) bits per frame.
        alpha: distance scale of the Gumbel logits; tau_*: temperature annealed exponentially over training.
        target_bits_per_frame or target_kbps (kbps wins when given, converted with fps); rate_weight is lambda;
        rate_unit: the unit the squared error is measured in (`bits` or `kbps`; changes lambda's effect).
        denoiser_*, patch_size, temporal: the DiT; `temporal` adds the zero-initialised stage-2 layers.
        stage1_checkpoint: weights to start from (a stage-1 run when training stage 2).
        content_frames: frames of the content segment in cross-driving (default: the first half).
        content_flip_prob: in training, mirror the content segment left-right with this probability. Appearance
            survives a mirror, the facing direction does not, so content that carried the direction (which the
            content and motion segments of one clip share) would mislead the denoiser: direction is left to motion.
        content_shuffle_patch: when > 0, content is always read from frames cut into tiles of this many pixels and
            shuffled (a fresh shuffle per frame in training, one fixed shuffle at inference): the palette survives,
            pose and facing do not, so content cannot carry motion (models/views.py).
        motion_permute_channels: in training, the motion pass reads the clip with its colour channels in a random
            order, so the motion codes cannot carry colour.
        content_nce_weight: weight of an InfoNCE loss that makes the content of a clip's two segments agree and
            differ from other clips' (models/contrastive.py): a direct signal for the content encoder (0: off).
        separate_content_encoder: content and motion from two encoders of the same size instead of one shared one
            (models/encoder.py SeparateContentEncoder), so losses that shape content cannot reshape the motion features.
        content_stem_pool: the separate content encoder's frame stem: `flatten` (the layout, as the motion encoder's) or
            `max` (which colours are present anywhere in the frame: appearance without pose; models/encoder.py).
            content_stem_width: channels of the `max` stem's per-pixel MLP, which runs at full resolution (on the
            2-core CPU, 16 costs 0.05 s per training step, 64 costs 0.57 s). content_stem_height: the `max` stem's MLP
            also reads each pixel's height, so a colour on the legs differs from the same colour on the chest.
        content_codec: what the content encoder reads: `shared` (the frame codec's latents, as the motion encoder and
            the denoiser) or `pixel` (pixels through the lossless pixel codec whatever `codec` is). A learned codec
            blends the colours of neighbouring pixels into each latent cell, so a colour-set stem on latents sees
            edges, and edges move with the pose (on Sprites latents, content predicted the motion class at 100%).
        content_norm: standardise the content over the batch (per slot and channel; running statistics at inference),
            so that the denoiser sees clip-to-clip differences from the first step (models/encoder.py). Under DDP,
            set the trainer's `sync_batchnorm: true` for global statistics.
        content_warmup_steps: the denoiser sees no content (zeros) for this many steps, then content fades in
            linearly over as many steps again, so the motion codes are learnt first (the contrastive term trains the
            content encoder throughout). content_dropout: in training, each clip's content is hidden from the
            denoiser with this probability (classifier-free-guidance style, zeros as the null content), so the
            denoiser must draw the motion from the codes alone and cannot lean on what content knows of it.
        content_detach: in training, the diffusion loss does not reach the content encoder, so content is learnt from
            the contrastive term alone (needs content_nce_weight > 0). A and B are consecutive segments of one clip,
            so A's last pose predicts B's first: the diffusion gradient rewards content that holds the pose (which
            then drives the transfers), while the contrastive term pairs segments in different poses and has no use
            for it. Meant for a content stem that keeps the layout (`content_stem_pool: flatten`).
        denoise_frames: in training, the diffusion loss takes a random window of this many consecutive frames of each
            clip's motion segment (None: all of them; the codes and their rate still come from every frame), so a
            batch can hold more clips, i.e. more characters, for the same denoiser cost.
        sampler, sample_steps: EDM sampler for decode(). content_guidance: classifier-free guidance weight on the
            content in decode() (1: none; w > 1 pushes each sample further towards what its content adds over the null
            content, at twice the network calls); it needs a denoiser that has seen the null content in training
            (content_dropout > 0). content_guidance_interval (lo, hi): guide only at noise levels lo < sigma <= hi
            (None: at every step; diffusion/edm.py). lr, weight_decay, warmup_steps: AdamW with linear warm-up.
        lr_decay_fraction: the learning rate falls linearly to 0 over this last fraction of the run's budget (max_steps
            or max_time, whichever ends first; systems/schedules.py); 0 keeps it constant after the warm-up.
        ema_decay: decay of the weight EMA that decode(), the API and validation use (0 turns it off).
        compile_denoiser: torch.compile the live DiT's forward (training); off by default, since compiling costs
            minutes on a CPU and pays off on GPUs only (README "Scaling and reliability").
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        fps: float = 8.0,
        max_frames: int = 64,
        codec: Literal["pixel", "autoencoder", "diffusers"] = "pixel",
        codec_checkpoint: str | None = None,
        pixel_unshuffle: int = 4,
        pixel_shift: float = 0.0,
        encoder_dim: int = 256,
        encoder_depth: int = 4,
        encoder_heads: int = 4,
        num_content_queries: int = 4,
        content_dim: int = 128,
        motion_dim: int = 64,
        quantizer: Literal["gumbel", "vq", "fsq"] = "gumbel",
        num_groups: int = 8,
        codebook_size: int = 16,
        fsq_levels: list[int] | None = None,
        alpha: float = 16.0,
        tau_start: float = 1.0,
        tau_end: float = 0.5,
        tau_anneal_steps: int = 5000,
        target_bits_per_frame: float = 16.0,
        target_kbps: float | None = None,
        rate_weight: float = 0.04,
        rate_unit: Literal["bits", "kbps"] = "bits",
        denoiser_dim: int = 256,
        denoiser_depth: int = 6,
        denoiser_heads: int = 4,
        patch_size: int = 2,
        temporal: bool = False,
        stage1_checkpoint: str | None = None,
        sigma_data: float = 0.5,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        cross_driving: bool = True,
        content_frames: int | None = None,
        content_flip_prob: float = 0.0,
        content_shuffle_patch: int = 0,
        motion_permute_channels: bool = False,
        content_nce_weight: float = 0.0,
        content_norm: bool = False,
        separate_content_encoder: bool = False,
        content_stem_pool: Literal["flatten", "max"] = "flatten",
        content_stem_width: int = 16,
        content_stem_height: bool = False,
        content_codec: Literal["shared", "pixel"] = "shared",
        content_warmup_steps: int = 0,
        content_dropout: float = 0.0,
        content_detach: bool = False,
        denoise_frames: int | None = None,
        sampler: Literal["euler", "heun"] = "heun",
        sample_steps: int = 18,
        content_guidance: float = 1.0,
        content_guidance_interval: tuple[float, float] | None = None,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 500,
        lr_decay_fraction: float = 0.0,
        ema_decay: float = 0.999,
        compile_denoiser: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.codec = build_codec(codec, channels, image_size, pixel_unshuffle, pixel_shift, codec_checkpoint)
        c, s = self.codec.latent_channels, self.codec.latent_size
        if content_stem_pool != "flatten" and not separate_content_encoder:
            raise ValueError("content_stem_pool needs separate_content_encoder: true (the motion pass needs the layout)")
        if content_stem_height and content_stem_pool != "max":
            raise ValueError("content_stem_height needs content_stem_pool: max")
        if content_detach and not (content_nce_weight > 0 and cross_driving):
            raise ValueError("content_detach needs content_nce_weight > 0 and cross_driving: nothing else trains content")
        check_guidance(content_guidance, content_guidance_interval)
        if not 0.0 <= lr_decay_fraction <= 1.0:
            raise ValueError(f"lr_decay_fraction must be in [0, 1], got {lr_decay_fraction}")
        if content_codec != "shared" and not separate_content_encoder:
            raise ValueError("content_codec 'pixel' needs separate_content_encoder: true (one encoder reads one input)")
        # parameter-free, so it adds nothing to checkpoints; None: content reads the frame codec's latents
        self.content_pixels = PixelCodec(channels, image_size, unshuffle=pixel_unshuffle, shift=pixel_shift) \
            if content_codec == "pixel" and codec != "pixel" else None

        def make_encoder(content_size: int, motion_size: int, stem_pool: str = "flatten",
                         codec_for: FrameCodec = self.codec) -> MotionContentEncoder:
            return MotionContentEncoder(
                codec_for.latent_channels, codec_for.latent_size, dim=encoder_dim, depth=encoder_depth,
                heads=encoder_heads, num_content_queries=num_content_queries, content_dim=content_size,
                motion_dim=motion_size, max_frames=max_frames, stem_pool=stem_pool,
                stem_channels=content_stem_width if stem_pool == "max" else 64,
                stem_cell_size=pixel_unshuffle if isinstance(codec_for, PixelCodec) else 1,
                stem_height=content_stem_height and stem_pool == "max", content_norm=content_norm,
            )
        if separate_content_encoder:
            content_input = self.content_pixels if self.content_pixels is not None else self.codec
            self.encoder = SeparateContentEncoder(make_encoder(content_dim, 0, content_stem_pool, content_input),
                                                  make_encoder(0, motion_dim))
        else:
            self.encoder = make_encoder(content_dim, motion_dim)
        self.quantizer = build_quantizer(quantizer, motion_dim, num_groups, codebook_size, alpha, fsq_levels or [8, 5, 5, 5])
        self.denoiser = DiTDenoiser(
            c, s, patch_size=patch_size, dim=denoiser_dim, depth=denoiser_depth, heads=denoiser_heads,
            motion_dim=motion_dim, content_dim=content_dim, temporal=temporal, max_frames=max_frames,
        )
        self.edm = EDM(sigma_data=sigma_data, p_mean=p_mean, p_std=p_std)
        self.target_bits = kbps_to_bits(target_kbps, fps) if target_kbps is not None else target_bits_per_frame
        # Made before a stage-1 checkpoint is loaded, so stage 2 also starts from the stage-1 EMA.
        self.ema = copy.deepcopy(nn.ModuleDict(self.networks(ema=False)._asdict())).requires_grad_(False) \
            if ema_decay > 0 else None
        if stage1_checkpoint:
            self.load_stage1(stage1_checkpoint)
        self._ema_step: int | None = None  # the optimizer step the EMA last moved at (see on_train_batch_end)
        self._eval_sums: torch.Tensor | None = None  # this rank's validation/test table (see _accumulate_eval)
        if compile_denoiser:
            # The live DiT only, where training spends its time, compiled in place (nn.Module.compile), so parameter
            # names and checkpoints stay those of the eager model. The EMA copy that sampling and validation use
            # stays eager: other shapes under no_grad would mean a second compilation for a small share of the time.
            self.denoiser.compile()

    def networks(self, ema: bool = True) -> Networks:
        """The EMA networks when they exist and ema is True (sampling, validation), else the live ones."""
        if ema and getattr(self, "ema", None) is not None:
            return Networks(self.ema["encoder"], self.ema["quantizer"], self.ema["denoiser"])
        return Networks(self.encoder, self.quantizer, self.denoiser)

    # ---- the public API ----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """video (B, T, C, H, W) -> content (B, K, C_c), codes (B, T, N); deterministic (argmax codes)."""
        nets = self.networks()
        with _eval_mode(self):
            z = self.codec.encode(video)
            content = nets.encoder.encode_content(self.content_latents(video, z))
            return content, nets.quantizer(nets.encoder.encode_motion(z)).codes

    @torch.no_grad()
    def decode(self, content: torch.Tensor, codes: torch.Tensor, steps: int | None = None, seed: int = 0) -> torch.Tensor:
        """(content (B, K, C_c), codes (B, T, N)) -> video (B, T, C, H, W) in [-1, 1], sampled with a fixed seed."""
        nets = self.networks()
        with _eval_mode(self):
            motion = nets.quantizer.decode_codes(codes)
            b, t = codes.shape[:2]
            shape = (b, t, self.codec.latent_channels, self.codec.latent_size, self.codec.latent_size)
            sigmas = self.edm.sigmas(steps or self.hparams.sample_steps, device=codes.device)
            x = initial_noise(shape, float(sigmas[0]), seed, codes.device, content.dtype)
            denoiser = guided_denoiser(self.edm, nets.denoiser, content, self.hparams.content_guidance,
                                       self.hparams.content_guidance_interval, motion=motion)
            latents = SAMPLERS[self.hparams.sampler](denoiser, x, sigmas)
            return self.codec.decode(latents).clamp(-1.0, 1.0)

    def transfer(self, content_video: torch.Tensor, motion_video: torch.Tensor, steps: int | None = None,
                 seed: int = 0) -> torch.Tensor:
        """The content of content_video driven by the motion of motion_video (same batch size; any lengths)."""
        content, _ = self.encode(content_video)
        _, codes = self.encode(motion_video)
        return self.decode(content, codes, steps=steps, seed=seed)

    def reconstruct(self, video: torch.Tensor, steps: int | None = None, seed: int = 0) -> torch.Tensor:
        content, codes = self.encode(video)
        return self.decode(content, codes, steps=steps, seed=seed)

    # ---- training ----------------------------------------------------------------------------------------
    def temperature(self, step: int) -> float:
        """Gumbel temperature: exponential from tau_start to tau_end over tau_anneal_steps, then constant."""
        hp = self.hparams
        progress = min(1.0, step / max(1, hp.tau_anneal_steps))
        return hp.tau_start * (hp.tau_end / hp.tau_start) ** progress

    def content_scale(self, step: int) -> float:
        """0 for the first content_warmup_steps steps, then a linear ramp to 1 over as many steps again."""
        warmup = self.hparams.content_warmup_steps
        return 1.0 if warmup <= 0 else min(1.0, max(0.0, step / warmup - 1.0))

    @staticmethod
    def frame_window(target: torch.Tensor, motion: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The same random window of `frames` consecutive frames of each clip's (B, T, ...) target and motion
        (consecutive, so a stage-2 temporal denoiser still sees a clip)."""
        b, t = target.shape[:2]
        if frames >= t:
            return target, motion
        start = (batch_random("rand", (b,), target.device) * (t - frames + 1)).long()  # (B,) in [0, t - frames]
        index = start[:, None] + torch.arange(frames, device=target.device)  # (B, frames)
        rows = torch.arange(b, device=target.device)[:, None]
        return target[rows, index], motion[rows, index]

    def content_view(self, video: torch.Tensor) -> torch.Tensor:
        """What the content pass reads of a clip: random views in training, a fixed one at inference."""
        hp = self.hparams
        if self.training and hp.content_flip_prob > 0:
            video = random_hflip(video, hp.content_flip_prob)
        if hp.content_shuffle_patch:
            generator = None if self.training else torch.Generator().manual_seed(0)
            video = shuffle_patches(video, hp.content_shuffle_patch, generator)
        return video

    def content_latents(self, video: torch.Tensor, latents: torch.Tensor | None = None) -> torch.Tensor:
        """What the content encoder reads of the content view of `video`: its pixels (folded) with `content_codec:
        pixel`, else its latents; `latents` (those of `video` itself) are reused when the view is the identity, since
        a learned codec's encoder costs about as much per frame as BCD's own networks."""
        view = self.content_view(video)
        if self.content_pixels is not None:
            if isinstance(self.codec, FrozenCodec) and self.codec.is_latent(video):
                raise MotionContentError("content_codec 'pixel' reads frames, but the batch holds cached latents: "
                                         "train without the latent cache")
            return self.content_pixels.encode(view)
        return latents if view is video and latents is not None else self.codec.encode(view)

    def content_split(self, num_frames: int) -> int:
        """Frames of the content segment A in cross-driving; the rest are the motion segment B."""
        split = self.hparams.content_frames or num_frames // 2
        if not 0 < split < num_frames:
            raise ValueError(f"content_frames={split} leaves no frames for motion in clips of {num_frames} frames")
        return split

    def cross_drive(self, video: torch.Tensor, nets: Networks | None = None
                    ) -> tuple[torch.Tensor, QuantizerOutput, torch.Tensor]:
        """content of segment A, quantized motion of segment B, and B's latents (the reconstruction target)."""
        encoder, quantizer, _ = nets or self.networks(ema=False)
        if not self.hparams.cross_driving:
            z = self.codec.encode(video)  # (B, T, c, h, w)
            content, motion = encoder(z)
            return content, quantizer(motion), z
        split = self.content_split(video.shape[1])
        target = self.codec.encode(video[:, split:])  # (B, T - split, c, h, w): B's latents
        # A's latents only if the content pass reads them: a learned codec costs about as much per frame as BCD
        content_z = self.content_latents(video[:, :split])
        motion_z = target
        if self.training and self.hparams.motion_permute_channels:
            motion_z = self.codec.encode(permute_channels(video[:, split:]))
        # Two encoder passes (METHOD 8.2 suggestion): content sees only A, motion only B, so content that copied
        # B's per-frame motion could not exist; the model must carry B's motion through the rate-limited codes.
        content = encoder.encode_content(content_z)
        motion = encoder.encode_motion(motion_z)
        return content, quantizer(motion), target

    def losses(self, video: torch.Tensor, generator: torch.Generator | None = None, ema: bool = False,
               sync: bool = True) -> dict[str, torch.Tensor]:
        """The training objective and its parts; `sync`: rate statistics over all DDP ranks' clips (an
        all-reduce, so every rank must call it as many times)."""
        nets = self.networks(ema=ema)
        content, q, target = self.cross_drive(video, nets)
        # the denoiser's view of content (zero during a content warm-up; the contrastive term below sees it all)
        denoiser_content = content.detach() if self.training and self.hparams.content_detach else content
        denoiser_content = denoiser_content * self.content_scale(self.global_step)
        if self.training and self.hparams.content_dropout > 0:
            keep = batch_random("rand", (content.shape[0],), content.device) >= self.hparams.content_dropout
            denoiser_content = denoiser_content * keep[:, None, None].to(content.dtype)
        motion, segment_b = q.quantized, target  # segment_b: B's latents, before any window below
        if self.training and self.hparams.denoise_frames:
            target, motion = self.frame_window(target, motion, self.hparams.denoise_frames)
        noise_state = generator.get_state() if generator is not None else None
        diffusion = self.edm.training_loss(nets.denoiser, target, generator=generator, motion=motion,
                                           content=denoiser_content)
        out = {"diffusion_loss": diffusion,
               "bits_hard": code_bits_per_frame(q.codes, nets.quantizer.codebook_size, sync=sync)}
        if noise_state is not None and video.shape[0] > 1:
            # How much the denoiser relies on content: the same noise, each clip given its neighbour's content.
            # Near 0 means content is ignored (appearance then cannot follow the content clip in a transfer).
            generator.set_state(noise_state)
            swapped = self.edm.training_loss(nets.denoiser, target, generator=generator, motion=motion,
                                             content=denoiser_content.roll(1, dims=0))
            out["content_gap"] = swapped - diffusion
        loss = diffusion
        if self.hparams.content_nce_weight > 0 and self.hparams.cross_driving:
            split = self.content_split(video.shape[1])
            other = nets.encoder.encode_content(self.content_latents(video[:, split:], segment_b))
            out["content_nce"] = content_info_nce(content, other)
            loss = loss + self.hparams.content_nce_weight * out["content_nce"]
        if q.probs is not None:
            bits = soft_bits_per_frame(q.probs, sync=sync)
            out["bits_soft"] = bits
            out["rate_loss"] = rate_loss(bits, self.target_bits, unit=self.hparams.rate_unit, fps=self.hparams.fps)
            loss = loss + self.hparams.rate_weight * out["rate_loss"]
        if q.aux_loss is not None:
            out["aux_loss"] = q.aux_loss
            loss = loss + q.aux_loss
        out["loss"] = loss
        out["codes"] = q.codes
        return out

    def on_fit_start(self) -> None:
        # DDP re-seeds every process after the model is built (Lightning's reset_seed); one process does not. Re-seed
        # here as well, so the first step's random draws depend on the seed alone and N processes draw what one
        # does (a resumed run then restores its saved RNG states, later, with its training DataLoader).
        reset_seed()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # A function of the step alone, so a resumed run continues the same schedule.
        self.quantizer.temperature = self.temperature(self.global_step)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is None:
            return
        # Short warm-up (as in common EMA implementations): early weights are forgotten quickly.
        step = self.global_step
        # Once per optimizer step: with gradient accumulation this hook runs after every micro-batch, and k lerps
        # towards the same weights would make the EMA's memory k times shorter.
        if step == self._ema_step:
            return
        self._ema_step = step
        decay = min(self.hparams.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            live = [p for network in self.networks(ema=False) for p in network.parameters()]
            torch._foreach_lerp_(list(self.ema.parameters()), live, 1.0 - decay)
            live_buffers = dict(nn.ModuleDict(self.networks(ema=False)._asdict()).named_buffers())
            for name, ema_buffer in self.ema.named_buffers():
                if ".content_norm." not in name:
                    ema_buffer.copy_(live_buffers[name])
            if self.hparams.content_norm:
                # The EMA encoder's content statistics come from its own outputs: the live encoder's do not fit the
                # averaged weights (copied, they doubled the validation loss of a test run). A no-grad pass in
                # training mode, which only BatchNorm reacts to, on a fresh content view of this batch.
                video = batch[0]
                split = self.content_split(video.shape[1]) if self.hparams.cross_driving else video.shape[1]
                self.ema["encoder"].train().encode_content(self.content_latents(video[:, :split]))

    def _rank_world(self) -> tuple[int, int]:
        trainer = self._trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        video, _ = batch
        # Noise drawn per clip of the global batch, so DDP trains as one process with the global batch would.
        with split_batch(*self._rank_world()):
            out = self.losses(video)
        self._log_train_losses(out, video.shape[0])
        self.log("train/temperature", self.quantizer.temperature)
        return out["loss"]

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        video, _ = batch
        # Fixed noise per batch, so validation losses of different epochs compare like with like; the EMA networks,
        # which are what decode() samples with.
        generator = torch.Generator(device=video.device).manual_seed(batch_idx)
        # Under DDP the ranks may hold different numbers of validation batches (no padding: each clip is counted
        # once), so a step must not all-reduce (sync=False: val/bits_* are per-rank batch estimates; the split's
        # rate is the Bitrate callback's). Noise is drawn per row of the global batch (rows: its full size), so
        # val/diffusion_loss does not depend on the number of ranks.
        rank, world = self._rank_world()
        batch_size = getattr(getattr(self._trainer, "datamodule", None), "batch_size", None)
        with split_batch(rank, world, rows=world * batch_size if batch_size else None):
            out = self.losses(video, generator=generator, ema=True, sync=False)
        self._accumulate_eval(out, video.shape[0])
        return {"codes": out["codes"]}

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        return self.validation_step(batch, batch_idx)

    # Evaluation figures are means over the split's clips (each batch's figure weighted by its clips), summed per
    # rank during the epoch and reduced once at its end. Not Lightning's `self.log(..., sync_dist=True)` in the
    # steps: its epoch mean averages the per-rank clip counts in an integer tensor, so 9 clips on 2 ranks (5 + 4)
    # were divided by 4 x 2 = 8 and every val/ figure came out 9/8 too high (Lightning issue #21859).
    def on_validation_epoch_start(self) -> None:
        self._eval_sums = None

    def on_test_epoch_start(self) -> None:
        self._eval_sums = None

    def on_validation_epoch_end(self) -> None:
        self._log_eval_epoch()

    def on_test_epoch_end(self) -> None:
        self._log_eval_epoch()

    def _accumulate_eval(self, out: dict[str, torch.Tensor], batch_size: int) -> None:
        """Adds this batch's figures x its clips, and its clips, to this rank's (metric, [sum, clips]) table."""
        if self._eval_sums is None:
            self._eval_sums = _eval_table(out["loss"].device)
        values = {name: value for name, value in out.items() if name != "codes"}
        if "bits_soft" in out:
            values["kbps_soft"] = bits_to_kbps(out["bits_soft"], self.hparams.fps)
        for name, value in values.items():
            if name not in _EVAL_METRICS:
                raise KeyError(f"{name!r} is not in _EVAL_METRICS (every rank must reduce the same table)")
            row = self._eval_sums[_EVAL_METRICS.index(name)]
            row[0] += value.detach().to(row.dtype) * batch_size
            row[1] += batch_size

    def _log_eval_epoch(self) -> None:
        """val/<name>: the mean over every rank's clips. One all-reduce, which every rank makes once per epoch
        whatever number of batches it held (none included)."""
        sums = self._eval_sums if self._eval_sums is not None else _eval_table(self.device)
        self._eval_sums = None
        if self._trainer is not None and self._trainer.world_size > 1:
            sums = self._trainer.strategy.reduce(sums, reduce_op="sum")
        for name, (total, clips) in zip(_EVAL_METRICS, sums.tolist()):
            if clips > 0:
                # Already the same on every rank: sync_dist with max only keeps Lightning from warning (a mean
                # would round it again for world sizes that are not powers of 2).
                self.log(f"val/{name}", total / clips, prog_bar=name in ("loss", "bits_soft"), batch_size=1,
                         sync_dist=True, reduce_fx="max")

    def _log_train_losses(self, out: dict[str, torch.Tensor], batch_size: int) -> None:
        """train/<name> per step (each rank's own batch; validation's split-wide means are _log_eval_epoch's)."""
        for name, value in out.items():
            if name != "codes":
                self.log(f"train/{name}", value, batch_size=batch_size, prog_bar=name in ("loss", "bits_soft"))
        if "bits_soft" in out:
            self.log("train/kbps_soft", bits_to_kbps(out["bits_soft"], self.hparams.fps), batch_size=batch_size)

    def configure_optimizers(self) -> Any:
        # No weight decay on codebooks, norms, biases and embeddings (all the <2-D parameters and codebooks).
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "codebook" in name or "queries" in name else decay).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams.lr, betas=(0.9, 0.99),
        )
        # Warm-up, then constant until the decay at the end of the budget: BCD runs are mostly bounded by max_time,
        # so the end is known as a time, not as a step count that a cosine could be laid over.
        warmup = warmup_cosine(self.hparams.warmup_steps, None)
        tail = budget_decay(self.hparams.lr_decay_fraction, lambda: budget_progress(self))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup(step) * tail())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- checkpoints -------------------------------------------------------------------------------------
    def load_stage1(self, path: str) -> None:
        """Start from a stage-1 checkpoint; layers it lacks (the temporal ones) keep their identity init."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        try:
            missing, unexpected = self.load_state_dict(state, strict=False)
        except RuntimeError as error:  # shapes differ: another architecture
            raise CheckpointError(f"{path} does not fit this model: {str(error).splitlines()[-1].strip()}") from None
        bad = [k for k in missing if ".temporal_blocks." not in k] + list(unexpected)
        if bad:
            raise CheckpointError(f"{path} does not fit this model: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")

    @property
    def capacity_bits(self) -> float:
        return float(self.quantizer.capacity_bits)

    @property
    def num_groups(self) -> int:
        return int(self.quantizer.num_groups)


class _eval_mode:
    """Context manager: module in eval mode inside, its previous mode restored after."""

    def __init__(self, module: nn.Module):
        self.module, self.was_training = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: Any) -> None:
        self.module.train(self.was_training)


__all__ = ["BCDModule", "build_codec", "build_quantizer"]
