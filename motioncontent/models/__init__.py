"""Plain `nn.Module`s of BCD, one concept per file and no Lightning imports (the diffusion maths is in diffusion/):

- frame_codec.py: FrameCodec interface and PixelCodec (frames <-> latent grids)
- encoder.py: MotionContentEncoder (content queries + per-frame motion), layers.py: shared transformer pieces
- quantizer.py: GroupGumbelQuantizer; rate.py: bits/frame, kbps and the rate loss; baseline_quantizers.py: FSQ, VQ
- dit.py: DiTDenoiser (adaLN-Zero, content tokens, stage-2 temporal layers)
- judge.py: SpritesJudge, the classifier that scores Sprites samples (evaluation, not part of BCD)
"""
