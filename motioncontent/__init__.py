"""motioncontent: Bitrate-Controlled Diffusion (BCD) for unsupervised motion/content disentanglement in video.

The flow, and where each part lives:

    video (B, T, C, H, W) in [-1, 1]                      data/        DataModules, datasets, caches, video I/O
      -> frame codec: per-frame latent grid               models/      plain nn.Modules, no Lightning inside
      -> encoder: content (K tokens) + motion per frame
      -> group quantizer: a few bits of motion per frame
      -> diffusion denoiser rebuilds the frames
    systems/    LightningModules that compose models/ for training
    callbacks/  codebook usage, bitrate and sample logging
    eval/       metrics and benchmarks
    cli/        the `motioncontent` command (LightningCLI + `data`)
"""

__version__ = "0.1.0"
