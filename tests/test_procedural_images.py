"""Dead-leaves images (data/procedural_images.py): seeded, in range, and with a natural image's spectrum."""

import torch

from motioncontent.data.procedural_images import dead_leaves, dead_leaves_bank, power_law_noise


def spectrum_slope(images: torch.Tensor) -> float:
    """Least-squares slope of log mean amplitude against log spatial frequency over octave bands (natural
    photographs: about -1; white noise: 0; a smooth blur: about -2)."""
    size = images.shape[-1]
    amplitude = torch.fft.rfft2(images - images.mean((-2, -1), keepdim=True)).abs().mean((0, 1))
    fy, fx = torch.fft.fftfreq(size)[:, None], torch.fft.rfftfreq(size)[None]
    frequency = (fx.square() + fy.square()).sqrt()
    xs, ys = [], []
    for octave in range(5):
        low, high = 2**octave / size, 2 ** (octave + 1) / size
        xs.append(0.5 * (torch.tensor(low).log() + torch.tensor(high).log()))
        ys.append(amplitude[(frequency >= low) & (frequency < high)].mean().log())
    x, y = torch.stack(xs), torch.stack(ys)
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / x.square().sum())


def test_dead_leaves_are_images_in_range_with_a_natural_spectrum():
    images = dead_leaves(8, 64, torch.Generator().manual_seed(0))
    assert images.shape == (8, 3, 64, 64) and images.min() >= -1 and images.max() <= 1
    assert images.std() > 0.3  # not flat
    assert -1.6 < spectrum_slope(images) < -0.8
    # the measure tells the cases apart: white noise is flat, an upsampled 4 x 4 image has almost no detail
    assert spectrum_slope(torch.rand(8, 3, 64, 64)) > -0.3
    smooth = torch.nn.functional.interpolate(torch.rand(8, 3, 4, 4), size=64, mode="bilinear")
    assert spectrum_slope(smooth) < -1.7


def test_power_law_noise_is_zero_mean_unit_std_per_image():
    noise = power_law_noise(4, 32, torch.Generator().manual_seed(0))
    assert noise.shape == (4, 3, 32, 32)
    assert torch.allclose(noise.mean((1, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(noise.flatten(1).std(1), torch.ones(4), atol=1e-4)


def test_a_bank_is_uint8_and_the_same_for_the_same_seed():
    bank = dead_leaves_bank(5, 32, seed=3, chunk=2)  # chunks of 2, 2, 1
    assert bank.shape == (5, 3, 32, 32) and bank.dtype == torch.uint8
    assert torch.equal(bank, dead_leaves_bank(5, 32, seed=3, chunk=2))
    assert not torch.equal(bank, dead_leaves_bank(5, 32, seed=4, chunk=2))
