"""The motion quantizers: shapes, the eval decode invariant, straight-through training, and rate tracking on a toy."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from motioncontent.models.baseline_quantizers import FSQQuantizer, VQQuantizer
from motioncontent.models.quantizer import GroupGumbelQuantizer, QuantizerOutput
from motioncontent.models.rate import code_bits_per_frame, rate_loss, soft_bits_per_frame

D = 16
QUANTIZERS = {
    "gumbel": lambda: GroupGumbelQuantizer(D, num_groups=4, codebook_size=8),
    "fsq": lambda: FSQQuantizer(D, levels=(8, 5, 5, 5), num_groups=2),
    "vq": lambda: VQQuantizer(D, num_groups=4, codebook_size=8),
}


@pytest.fixture(params=list(QUANTIZERS))
def quantizer(request) -> nn.Module:
    torch.manual_seed(0)
    return QUANTIZERS[request.param]()


def _motion(B: int = 3, T: int = 5, requires_grad: bool = False) -> torch.Tensor:
    return torch.randn(B, T, D, generator=torch.Generator().manual_seed(1)).requires_grad_(requires_grad)


@pytest.mark.parametrize("training", [True, False])
def test_output_shapes_dtypes_and_code_range(quantizer, training):
    quantizer.train(training)
    out = quantizer(_motion())
    N, E = quantizer.num_groups, quantizer.codebook_size
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == (3, 5, D) and out.quantized.dtype == torch.float32
    assert out.codes.shape == (3, 5, N) and out.codes.dtype == torch.int64
    assert out.codes.min() >= 0 and out.codes.max() < E
    if out.probs is not None:
        assert out.probs.shape == (3, 5, N, E) and out.probs.dtype == torch.float32
        torch.testing.assert_close(out.probs.sum(-1), torch.ones(3, 5, N))
    assert quantizer.capacity_bits == pytest.approx(N * math.log2(E))


def test_capacity_of_each_quantizer():
    assert GroupGumbelQuantizer(D, num_groups=4, codebook_size=16).capacity_bits == 16.0
    assert FSQQuantizer(D, levels=(8, 5, 5, 5)).capacity_bits == pytest.approx(math.log2(1000))
    assert FSQQuantizer(D, levels=(8, 5, 5, 5), num_groups=2).codebook_size == 1000
    assert VQQuantizer(D, num_groups=2, codebook_size=32).capacity_bits == 10.0


def test_eval_is_deterministic_and_decode_codes_reproduces_forward(quantizer):
    quantizer.eval()
    x = _motion()
    a, b = quantizer(x), quantizer(x)
    assert torch.equal(a.codes, b.codes) and torch.equal(a.quantized, b.quantized)
    assert torch.equal(quantizer.decode_codes(a.codes), a.quantized)


def test_annealing_attribute_exists_everywhere(quantizer):
    quantizer.temperature = 0.25  # the training system sets it every step, whatever the quantizer
    quantizer.train()
    quantizer(_motion())


def test_bf16_autocast_keeps_input_dtype_and_fp32_probs(quantizer):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = quantizer(_motion().bfloat16())
    assert out.quantized.dtype == torch.bfloat16
    assert out.probs is None or out.probs.dtype == torch.float32


def test_group_gumbel_eval_codes_are_the_nearest_entries_and_probs_softmax_of_distance():
    q = GroupGumbelQuantizer(D, num_groups=4, codebook_size=8, alpha=2.0).eval()
    x = _motion()
    out = q(x)
    groups = x.reshape(3, 5, 4, 1, 4)  # (B, T, N, 1, g)
    dist = (groups - q.codebook).norm(dim=-1)  # (B, T, N, E) plain L2
    assert torch.equal(out.codes, dist.argmin(-1))
    torch.testing.assert_close(out.probs, torch.softmax(-2.0 * dist, dim=-1))


def test_group_gumbel_training_is_straight_through():
    torch.manual_seed(0)
    q = GroupGumbelQuantizer(D, num_groups=4, codebook_size=8, alpha=1.0).train()
    x = _motion(B=1, T=2, requires_grad=True)  # two frames select at most 2 of the 8 entries per group
    out = q(x)
    # Forward: exact codebook entries (one-hot samples), not a soft mixture.
    assert torch.equal(out.quantized, q.decode_codes(out.codes))
    # Backward: the relaxed sample's gradient reaches the input and also entries that were not selected.
    (out.quantized * torch.randn_like(out.quantized)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    used = torch.zeros(4, 8, dtype=torch.bool)
    used[torch.arange(4).expand_as(out.codes), out.codes] = True
    grad_norm = q.codebook.grad.norm(dim=-1)  # (N, E)
    assert (grad_norm[used] > 0).all() and (grad_norm[~used] > 0).any()


def test_group_gumbel_training_samples_follow_probs_whatever_the_temperature():
    """Gumbel-max: hard training codes are drawn from softmax(−α·d), the `probs` the rate is computed from."""
    torch.manual_seed(0)
    q = GroupGumbelQuantizer(4, num_groups=1, codebook_size=4, alpha=1.0, temperature=0.3).train()
    x = torch.randn(1, 1, 4).expand(1, 20000, 4)  # one frame, sampled 20000 times
    out = q(x)
    freq = torch.bincount(out.codes.flatten(), minlength=4).float() / 20000
    torch.testing.assert_close(freq, out.probs[0, 0, 0], atol=0.015, rtol=0)


@pytest.mark.parametrize("name", ["fsq", "vq"])
def test_baselines_are_straight_through(name):
    torch.manual_seed(0)
    q = QUANTIZERS[name]().train()
    x = _motion(B=4, T=8, requires_grad=True)
    out = q(x)
    assert out.probs is None
    torch.testing.assert_close(out.quantized, q.decode_codes(out.codes), atol=1e-5, rtol=1e-5)
    loss = (out.quantized * torch.randn_like(out.quantized)).sum()
    if name == "vq":  # its codebook learns from the commitment loss it returns
        assert out.aux_loss is not None and out.aux_loss > 0
        loss = loss + out.aux_loss
    else:
        assert out.aux_loss is None
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    if name == "vq":
        assert q.vq.codebook.grad.abs().sum() > 0


def test_group_count_must_divide_dim():
    with pytest.raises(AssertionError, match="divisible"):
        GroupGumbelQuantizer(10, num_groups=4)


def _train_toy(target_bits: float, steps: int = 300, seed: int = 0) -> tuple[float, float]:
    """A tiny autoencoder on Gaussian data with a GroupGumbelQuantizer (N=4, E=16: 16 bits of capacity) trained on
    reconstruction + λ·(soft bits − target)²; returns the hard-code (eval) bits/frame and MSE on a fresh batch."""
    torch.manual_seed(seed)
    X, H = 8, 64
    enc = nn.Sequential(nn.Linear(X, H), nn.ReLU(), nn.Linear(H, D))
    q = GroupGumbelQuantizer(D, num_groups=4, codebook_size=16)
    dec = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, X))
    opt = torch.optim.Adam([*enc.parameters(), *q.parameters(), *dec.parameters()], lr=3e-3)
    for _ in range(steps):
        x = torch.randn(256, 1, X)
        out = q(enc(x))
        loss = (dec(out.quantized) - x).square().mean() + 1.0 * rate_loss(soft_bits_per_frame(out.probs), target_bits)
        opt.zero_grad()
        loss.backward()
        opt.step()
    q.eval()
    with torch.no_grad():
        x = torch.randn(8192, 1, X)
        out = q(enc(x))
        return code_bits_per_frame(out.codes, 16).item(), (dec(out.quantized) - x).square().mean().item()


def test_rate_loss_drives_hard_code_bits_to_each_target():
    (low_bits, low_mse), (high_bits, high_mse) = _train_toy(6.0), _train_toy(10.0)
    assert low_bits == pytest.approx(6.0, rel=0.10)
    assert high_bits == pytest.approx(10.0, rel=0.10)
    assert high_mse < low_mse < 0.9  # the codes carry information (unit-variance data: 1.0 is knowing nothing)
