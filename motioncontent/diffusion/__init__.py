"""The diffusion process, kept apart from the networks (METHOD.md §7): no parameters and no Lightning inside.
Mirrors DiT's `diffusion/` package and k-diffusion's split; see Karras et al. 2022 (EDM, arXiv 2206.00364).

    edm.py       EDM: preconditioning D = c_skip x + c_out F(c_in x; c_noise), training sigmas, loss, schedule
    samplers.py  sample_euler, sample_heun (EDM Algorithm 1), initial_noise, the SAMPLERS registry
"""

from motioncontent.diffusion.edm import EDM, edm_denoiser
from motioncontent.diffusion.samplers import SAMPLERS, initial_noise, sample_euler, sample_heun

__all__ = ["EDM", "SAMPLERS", "edm_denoiser", "initial_noise", "sample_euler", "sample_heun"]
