"""EDM preconditioning, loss and samplers (motioncontent.diffusion) against Karras et al. 2022 (arXiv 2206.00364).

The strongest checks use data ~ N(0, s^2) per element, whose exact denoiser is known in closed form,
D(x; sigma) = x s^2 / (s^2 + sigma^2): a network that realises it through the preconditioning must make the loss
hit the analytic MMSE and the samplers reproduce the data's std.
"""

from __future__ import annotations

import math

import pytest
import torch

from motioncontent.diffusion import EDM, SAMPLERS, edm_denoiser, initial_noise, sample_euler, sample_heun
from motioncontent.diffusion.edm import guided_denoiser

SD = 0.5  # EDM's default sigma_data, spelled out so the hand formulas below do not read it from the code


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these tensors are small, and on a shared 2-core machine two spinning threads ran the
    sampler loops up to 50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gaussian_network(s: float, sigma_data: float = SD):
    """The F whose preconditioned D is the exact denoiser of N(0, s^2) data, written by hand from EDM Table 1."""

    def net(u: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (u.ndim - 1)
        sigma = (4 * c_noise.double()).exp().reshape(shape)  # invert c_noise = ln(sigma) / 4
        x = u.double() * (sigma**2 + sigma_data**2).sqrt()  # invert c_in
        d = x * s**2 / (s**2 + sigma**2)
        c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
        c_out = sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()
        return ((d - c_skip * x) / c_out).to(u.dtype)

    return net


def exact_denoiser(s: float):
    """D(x; sigma) for N(0, s^2) data, bypassing the preconditioning entirely."""
    return lambda x, sigma: x * s**2 / (s**2 + sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2)


# ---------------------------------------------------------------------------------------------- preconditioning


def test_scalings_match_table1():
    sig = [0.002, 0.1, 0.5, 1.0, 7.0, 80.0]
    c_skip, c_out, c_in, c_noise = EDM().scalings(torch.tensor(sig))
    for i, s in enumerate(sig):
        assert c_skip[i].item() == pytest.approx(SD**2 / (s**2 + SD**2), rel=1e-6)
        assert c_out[i].item() == pytest.approx(s * SD / math.sqrt(s**2 + SD**2), rel=1e-6)
        assert c_in[i].item() == pytest.approx(1 / math.sqrt(s**2 + SD**2), rel=1e-6)
        assert c_noise[i].item() == pytest.approx(math.log(s) / 4, rel=1e-6)
    assert all(t.dtype == torch.float32 and t.shape == (6,) for t in (c_skip, c_out, c_in, c_noise))
    # a different sigma_data must actually be used
    assert EDM(sigma_data=1.0).scalings(torch.tensor(1.0))[0].item() == pytest.approx(0.5)


def test_denoiser_is_identity_as_sigma_goes_to_zero():
    edm = EDM()
    c_skip, c_out, _, _ = edm.scalings(torch.tensor([1e-7]))
    assert c_skip.item() == pytest.approx(1.0, abs=1e-9) and c_out.item() == pytest.approx(0.0, abs=1e-6)
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    loud = lambda u, c_noise: torch.full_like(u, 100.0)  # whatever F says must be switched off
    assert torch.allclose(edm.denoise(loud, x, torch.full((3,), 1e-7)), x, atol=2e-5)
    assert not torch.allclose(edm.denoise(loud, x, torch.full((3,), 1.0)), x, atol=1.0)


def test_denoise_feeds_network_scaled_input_per_sample_sigma_and_cond():
    edm, seen = EDM(), {}
    x = torch.randn(2, 3, 4, 8, 8)  # (B, T, C, H, W): one sigma per clip covers all its frames
    sigma = torch.tensor([0.3, 20.0])

    def net(u, c_noise, motion=None, content=None):
        seen.update(u=u, c_noise=c_noise, motion=motion, content=content)
        return torch.zeros_like(u)

    d = edm.denoise(net, x, sigma, motion="m", content="c")
    c_skip, _, c_in, c_noise = edm.scalings(sigma)
    assert seen["c_noise"].shape == (2,) and torch.allclose(seen["c_noise"], c_noise)
    assert torch.allclose(seen["u"], x * c_in.view(2, 1, 1, 1, 1))
    assert (seen["motion"], seen["content"]) == ("m", "c")
    assert torch.allclose(d, x * c_skip.view(2, 1, 1, 1, 1))  # F = 0 leaves only the skip path
    # edm_denoiser binds the conditioning; a scalar sigma is broadcast to the batch
    edm_denoiser(edm, net, motion="m2", content="c2")(x, torch.tensor(1.0))
    assert seen["motion"] == "m2" and seen["c_noise"].shape == (2,)
    with pytest.raises(ValueError):
        edm.denoise(net, x, torch.ones(3))


def test_content_guidance_extrapolates_from_the_null_content_in_one_network_call():
    edm, batches = EDM(), []
    x, sigma = torch.randn(2, 3, 4, 8, 8), torch.tensor([0.3, 20.0])
    motion, content = torch.randn(2, 3, 5), torch.randn(2, 2, 6)

    def net(u, c_noise, motion, content):  # per clip: a function of the input, its motion and its content
        batches.append(u.shape[0])
        return u * 0.5 + motion.sum((1, 2)).view(-1, 1, 1, 1, 1) + content.square().sum((1, 2)).view(-1, 1, 1, 1, 1)

    d_cond = edm.denoise(net, x, sigma, motion=motion, content=content)
    d_null = edm.denoise(net, x, sigma, motion=motion, content=torch.zeros_like(content))
    batches.clear()
    guided = guided_denoiser(edm, net, content, 3.0, motion=motion)(x, sigma)
    torch.testing.assert_close(guided, d_null + 3.0 * (d_cond - d_null))
    assert batches == [4]  # conditional and null halves in one doubled batch
    batches.clear()
    torch.testing.assert_close(guided_denoiser(edm, net, content, 1.0, motion=motion)(x, sigma), d_cond)
    assert batches == [2]  # w = 1 is the plain denoiser: one call at the batch size
    torch.testing.assert_close(guided_denoiser(edm, net, content, 0.0, motion=motion)(x, sigma), d_null)
    # a sigma interval: guided inside (lo, hi], plain outside, per clip; no doubled call when no clip is inside
    limited = guided_denoiser(edm, net, content, 3.0, interval=(1.0, 25.0), motion=motion)(x, sigma)
    torch.testing.assert_close(limited[0], d_cond[0])  # sigma 0.3
    torch.testing.assert_close(limited[1], guided[1])  # sigma 20
    batches.clear()
    torch.testing.assert_close(guided_denoiser(edm, net, content, 3.0, interval=(1.0, 5.0), motion=motion)(x, sigma),
                               d_cond)
    assert batches == [2]


@pytest.mark.parametrize("s", [0.5, 1.5])
def test_network_inverting_preconditioning_gives_exact_gaussian_denoiser(s):
    edm = EDM()
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(1)) * 10
    sigma = torch.tensor([0.002, 0.3, 1.0, 10.0, 80.0])
    want = x * s**2 / (s**2 + sigma[:, None] ** 2)
    assert torch.allclose(edm.denoise(gaussian_network(s), x, sigma), want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------- training loss


@pytest.mark.parametrize("s", [0.5, 1.5])
@pytest.mark.parametrize("sigma", [0.2, 1.0, 5.0])
def test_loss_with_exact_denoiser_is_the_analytic_mmse(s, sigma):
    edm, g = EDM(), torch.Generator().manual_seed(2)
    x0 = torch.randn(4, 50_000, generator=g) * s
    loss = edm.training_loss(gaussian_network(s), x0, sigma=sigma, generator=g)
    lam = (sigma**2 + SD**2) / (sigma * SD) ** 2
    assert loss.item() == pytest.approx(lam * s**2 * sigma**2 / (s**2 + sigma**2), rel=0.03)


def test_loss_is_lowest_for_the_exact_denoiser():
    # s != sigma_data on purpose: at s = sigma_data the skip path alone is exact, F = 0, and scaling F changes nothing
    edm, s, g = EDM(), 1.5, torch.Generator().manual_seed(3)
    x0 = torch.randn(64, 2000, generator=g) * s
    sigma, noise = edm.sample_sigma(64, generator=g), torch.randn(x0.shape, generator=g)
    exact = gaussian_network(s)

    def loss(net):
        return edm.training_loss(net, x0, sigma=sigma, noise=noise).item()

    best = loss(exact)
    for perturbed in (
        lambda u, c: exact(u, c) * 1.1,
        lambda u, c: exact(u, c) * 0.9,
        lambda u, c: exact(u, c) + 0.05,
        lambda u, c: exact(u, c) + 0.1 * u,
        lambda u, c: torch.zeros_like(u),
    ):
        assert loss(perturbed) > best
    # lambda = 1 / c_out^2, so an offset delta in F costs delta^2 on top of the floor, whatever sigma was drawn
    assert loss(lambda u, c: exact(u, c) + 0.2) - best == pytest.approx(0.2**2, rel=0.15)


def test_loss_weighting_and_reduction_by_hand():
    edm = EDM()
    x0 = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
    noise = torch.tensor([[0.5, 0.5], [-1.0, 1.0]])
    sigma = torch.tensor([0.5, 2.0])
    zero = lambda u, c: torch.zeros_like(u)  # D = c_skip (x0 + sigma n)
    want = 0.0
    for b in range(2):
        sg = sigma[b].item()
        d = SD**2 / (sg**2 + SD**2) * (x0[b] + sg * noise[b])
        want += (sg**2 + SD**2) / (sg * SD) ** 2 * ((d - x0[b]) ** 2).mean().item() / 2
    got = edm.training_loss(zero, x0, sigma=sigma, noise=noise)
    assert got.shape == () and got.item() == pytest.approx(want, rel=1e-6)
    assert edm.loss_weight(torch.tensor(1.0)).item() == pytest.approx(1.25 / 0.25)


def test_training_loss_draws_are_reproducible_with_a_generator_and_pass_cond():
    edm, x0 = EDM(), torch.randn(8, 3, 4)
    net = lambda u, c, scale: u * scale
    a = edm.training_loss(net, x0, generator=torch.Generator().manual_seed(5), scale=0.5)
    b = edm.training_loss(net, x0, generator=torch.Generator().manual_seed(5), scale=0.5)
    c = edm.training_loss(net, x0, generator=torch.Generator().manual_seed(6), scale=0.5)
    assert a.item() == b.item() and a.item() != c.item()


def test_sample_sigma_is_lognormal_and_reproducible():
    edm = EDM()
    sig = edm.sample_sigma(200_000, generator=torch.Generator().manual_seed(7))
    assert sig.shape == (200_000,) and sig.dtype == torch.float32 and (sig > 0).all()
    assert sig.log().mean().item() == pytest.approx(-1.2, rel=0.02)
    assert sig.log().std().item() == pytest.approx(1.2, rel=0.02)
    again = edm.sample_sigma(200_000, generator=torch.Generator().manual_seed(7))
    other = edm.sample_sigma(200_000, generator=torch.Generator().manual_seed(8))
    assert torch.equal(sig, again) and not torch.equal(sig, other)
    shifted = EDM(p_mean=0.4, p_std=0.3).sample_sigma(50_000, generator=torch.Generator().manual_seed(7)).log()
    assert shifted.mean().item() == pytest.approx(0.4, abs=0.01)
    assert shifted.std().item() == pytest.approx(0.3, rel=0.02)


# ---------------------------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("steps", [1, 2, 18, 40])
def test_karras_schedule(steps):
    sig = EDM().sigmas(steps)
    assert sig.shape == (steps + 1,) and sig.dtype == torch.float32 and sig[-1].item() == 0.0
    assert sig[0].item() == pytest.approx(80.0, rel=1e-6)
    if steps > 1:
        assert sig[-2].item() == pytest.approx(0.002, rel=1e-6)
    assert (sig[1:] < sig[:-1]).all()
    for i in range(steps if steps > 1 else 0):  # EDM Eq. 5 by hand
        want = (80 ** (1 / 7) + i / (steps - 1) * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
        assert sig[i].item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError):
        EDM().sigmas(0)


# ---------------------------------------------------------------------------------------------- samplers


@pytest.mark.parametrize("s", [0.5, 1.5])
@pytest.mark.parametrize("name, steps", [("heun", 40), ("euler", 256)])
def test_sampling_the_exact_gaussian_denoiser_gives_its_std(name, steps, s):
    """18 Heun steps miss by 4-6% on this Gaussian (see test_sampler_convergence_order); 40 are within 1%."""
    edm = EDM()
    x = initial_noise((500, 100), edm.sigma_max, seed=0, device="cpu")  # 50k values: std known to 0.3%
    out = SAMPLERS[name](edm_denoiser(edm, gaussian_network(s)), x, edm.sigmas(steps))
    assert out.std().item() == pytest.approx(s, rel=0.02)
    assert abs(out.mean().item()) < 0.015 * s  # 3.3 standard errors


@pytest.mark.parametrize("s", [0.5, 1.5])
def test_sampler_convergence_order(s):
    """Heun is second order (error / ~4 per doubling), Euler first order (/ ~2); the exact std ratio is known."""
    edm = EDM()
    x = torch.ones(1)  # the samplers are linear in x here, so one value measures the std ratio exactly
    exact = s / math.sqrt(s**2 + edm.sigma_max**2)

    def err(sampler, n):
        return abs(sampler(exact_denoiser(s), x, edm.sigmas(n)).item() / exact - 1)

    assert 3.0 < err(sample_heun, 32) / err(sample_heun, 64) < 6.0
    assert 1.6 < err(sample_euler, 64) / err(sample_euler, 128) < 2.5
    assert err(sample_heun, 18) > 0.02 > err(sample_heun, 40)  # the step count the std test relies on
    assert err(sample_heun, 18) < err(sample_euler, 35)  # 35 network calls each: the corrector pays off


@pytest.mark.parametrize("name, nfe", [("heun", lambda n: 2 * n - 1), ("euler", lambda n: n)])
def test_sampler_network_calls_and_sigma_handed_to_denoiser(name, nfe):
    calls = []

    def denoiser(x, sigma):
        calls.append(sigma)
        return x * 0.5

    x = torch.randn(3, 2, dtype=torch.bfloat16)
    out = SAMPLERS[name](denoiser, x, EDM().sigmas(7))
    assert len(calls) == nfe(7)
    assert all(c.shape == (3,) and c.dtype == torch.float32 and (c > 0).all() for c in calls)
    # the second call (Euler's next step, Heun's corrector) is at sigma_1 = 57.58..., exactly, not bf16's 57.5
    assert torch.equal(calls[1], EDM().sigmas(7)[1].expand(3))
    assert out.shape == x.shape and out.dtype == torch.bfloat16


def test_sampling_is_deterministic_per_seed_and_leaves_global_rng_alone():
    edm = EDM()
    net = gaussian_network(0.5)
    state = torch.get_rng_state()

    def sample(seed):
        x = initial_noise((4, 3, 8), edm.sigma_max, seed, "cpu", torch.float32)
        return sample_heun(edm_denoiser(edm, net), x, edm.sigmas(6))

    a, b, c = sample(11), sample(11), sample(12)
    fresh1, fresh2 = initial_noise((16,), 1.0, None, "cpu", torch.float32), initial_noise((16,), 1.0, None)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert not torch.equal(fresh1, fresh2)
    assert torch.equal(torch.get_rng_state(), state)
    noise = initial_noise((20_000,), 80.0, 3, "cpu", torch.float32)
    assert noise.std().item() == pytest.approx(80.0, rel=0.02)
    assert initial_noise((4,), 80.0, 3, "cpu", torch.bfloat16).dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------------- precision


def test_sigma_maths_stays_fp32_under_bf16_autocast():
    edm = EDM()
    net = torch.nn.Linear(6, 6)
    x, sigma = torch.randn(4, 6), torch.tensor([0.01, 0.5, 3.0, 60.0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for t in edm.scalings(sigma.bfloat16()) + edm.scalings(sigma) + (edm.loss_weight(sigma),):
            assert t.dtype == torch.float32
        # the network is in bf16 under autocast, yet D comes back in x's dtype
        assert net(x).dtype == torch.bfloat16
        d = edm.denoise(lambda u, c: net(u), x, sigma)
        loss = edm.training_loss(lambda u, c: net(u), x, sigma=sigma, noise=torch.randn(4, 6))
    assert d.dtype == torch.float32 and loss.dtype == torch.float32
    assert torch.allclose(d, edm.denoise(lambda u, c: net(u), x, sigma), rtol=0.05, atol=0.05)
    # c_skip near 1 at small sigma is where bf16 would lose the signal (bf16 rounds it to 1.0): 1 - c_skip survives
    small = torch.tensor([0.002]).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        c_skip = edm.scalings(small)[0]
    sg = small.item()  # the bf16 input itself is already rounded; only the maths after it must be fp32
    assert (1 - c_skip).item() == pytest.approx(sg**2 / (sg**2 + SD**2), rel=1e-2)
    seen = []
    d16 = edm.denoise(lambda u, c: seen.append(u.dtype) or u, x.bfloat16(), sigma)
    assert d16.dtype == torch.bfloat16 and seen == [torch.bfloat16]  # the network sees the caller's dtype


# ---------------------------------------------------------------------------------------------- optional oracle


def test_matches_diffusers_edm_euler_scheduler():
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.EDMEulerScheduler(sigma_min=0.002, sigma_max=80.0, sigma_data=SD, rho=7.0)
    edm = EDM()
    for n in (2, 18, 40):
        sched.set_timesteps(n)
        assert torch.allclose(edm.sigmas(n), sched.sigmas.float(), rtol=1e-5, atol=0)
    sigma = torch.tensor([0.01, 0.7, 30.0])
    c_skip, c_out, c_in, c_noise = edm.scalings(sigma)
    assert torch.allclose(c_in, sched.precondition_inputs(torch.ones(3), sigma), rtol=1e-5)
    assert torch.allclose(c_noise, sched.precondition_noise(sigma), rtol=1e-5)
    assert torch.allclose(c_skip, sched.precondition_outputs(torch.ones(3), torch.zeros(3), sigma), rtol=1e-5)
    assert torch.allclose(c_out, sched.precondition_outputs(torch.zeros(3), torch.ones(3), sigma), rtol=1e-5)
    # a whole Euler sampling loop through diffusers' own step(), with the same F, lands where sample_euler does
    net, x = gaussian_network(1.5), initial_noise((4, 8), edm.sigma_max, 0, "cpu", torch.float32)
    sched.set_timesteps(12)
    y = x.clone()
    for t in sched.timesteps:  # diffusers' timesteps are c_noise values
        y = sched.step(net(sched.scale_model_input(y, t), t.expand(4)), t, y).prev_sample
    assert torch.allclose(sample_euler(edm_denoiser(edm, net), x, edm.sigmas(12)), y, rtol=1e-4, atol=1e-5)
