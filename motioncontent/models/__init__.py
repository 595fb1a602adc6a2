"""Plain `nn.Module`s of BCD, one concept per file and no Lightning imports (the diffusion maths is in diffusion/):

- frame_codec.py: FrameCodec interface, PixelCodec, and the frozen learned codecs (AutoencoderCodec, DiffusersVAECodec)
- autoencoder.py: FrameAutoencoder, the project's KL frame autoencoder (METHOD 3); patch_discriminator.py, ssim.py:
  its optional adversarial loss and its SSIM loss term
- encoder.py: MotionContentEncoder (content queries + per-frame motion), SeparateContentEncoder (two of them: content
  from one, motion from the other), layers.py: shared transformer pieces
- quantizer.py: GroupGumbelQuantizer; rate.py: bits/frame, kbps and the rate loss; baseline_quantizers.py: FSQ, VQ
- dit.py: DiTDenoiser (adaLN-Zero, content tokens, stage-2 temporal layers)
- prior.py: MotionPrior, the GPT over motion codes (METHOD 9)
- judge.py: SpritesJudge, the classifier that scores Sprites samples (evaluation, not part of BCD)
"""
