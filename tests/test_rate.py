"""Rate arithmetic: entropies on hand cases, units, the rate loss, and the global reduction under DDP (2 gloo ranks)."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from motioncontent.models.rate import (
    bits_to_kbps,
    code_bits_per_frame,
    code_histogram,
    group_perplexity,
    kbps_to_bits,
    rate_loss,
    soft_bits_per_frame,
)

N, E = 3, 8


def test_uniform_probs_carry_full_capacity():
    probs = torch.full((2, 5, N, E), 1.0 / E)
    assert soft_bits_per_frame(probs).item() == pytest.approx(N * math.log2(E), abs=1e-5)


def test_one_entry_always_carries_nothing_and_keeps_a_finite_gradient():
    probs = F.one_hot(torch.zeros(4, 6, N, dtype=torch.long), E).float().requires_grad_()
    bits = soft_bits_per_frame(probs)
    assert bits.item() == 0.0
    bits.backward()
    assert torch.isfinite(probs.grad).all()


def test_soft_bits_are_the_entropy_of_the_mean_not_the_mean_entropy():
    # Half the frames certain of entry 0, half certain of entry 1: each frame has 0 bits, the histogram 1 per group.
    codes = torch.tensor([0, 1]).repeat(5)[:, None].expand(10, N)  # (M, N)
    assert soft_bits_per_frame(F.one_hot(codes, E).float()).item() == pytest.approx(N * 1.0)


def test_soft_bits_gradient_matches_analytic_entropy_gradient():
    probs = torch.softmax(torch.randn(7, N, E), dim=-1).requires_grad_()
    soft_bits_per_frame(probs).backward()
    p_bar = probs.detach().mean(0)  # (N, E)
    expected = -(torch.log2(p_bar) + 1 / math.log(2)) / 7  # dH/dp_t = dH/dp̄ · 1/M
    torch.testing.assert_close(probs.grad, expected.expand(7, N, E))


def test_code_histogram_and_hard_bits_on_hand_cases():
    codes = torch.tensor([[0, 3, 7], [1, 3, 7], [0, 3, 6], [1, 3, 5]])  # (M=4, N=3)
    hist = code_histogram(codes, E)
    assert hist.dtype == torch.int64 and hist.shape == (N, E)
    assert hist[0].tolist() == [2, 2, 0, 0, 0, 0, 0, 0]
    assert hist[1].tolist() == [0, 0, 0, 4, 0, 0, 0, 0]
    assert hist[2].tolist() == [0, 0, 0, 0, 0, 1, 1, 2]
    # group 0: 1 bit; group 1: 0 bits; group 2: H(1/4, 1/4, 1/2) = 1.5 bits
    assert code_bits_per_frame(codes, E).item() == pytest.approx(2.5)
    all_entries = torch.arange(E)[:, None].expand(E, N)  # every entry once in every group
    assert code_bits_per_frame(all_entries.reshape(2, 4, N), E).item() == pytest.approx(N * math.log2(E))
    with pytest.raises(ValueError, match="codes must lie"):
        code_histogram(torch.tensor([[0, 8, 1]]), E)


def test_group_perplexity():
    hist = torch.tensor([[5.0] * E, [9.0] + [0.0] * (E - 1), [1.0, 1.0] + [0.0] * (E - 2)])
    torch.testing.assert_close(group_perplexity(hist), torch.tensor([float(E), 1.0, 2.0]))
    assert group_perplexity(torch.zeros(1, E)).item() == 1.0  # no frames: no NaN


def test_kbps_conversions():
    assert bits_to_kbps(160, 25) == pytest.approx(4.0)  # METHOD §5.3: 160 bits/frame at 25 fps
    assert kbps_to_bits(4.0, 25) == pytest.approx(160.0)
    assert kbps_to_bits(bits_to_kbps(torch.tensor(37.0), 30.0), 30.0).item() == pytest.approx(37.0)


def test_rate_loss_units_and_errors():
    bits = torch.tensor(170.0, requires_grad=True)
    in_bits = rate_loss(bits, 160.0)
    in_kbps = rate_loss(bits, 160.0, unit="kbps", fps=25.0)
    assert in_bits.item() == pytest.approx(100.0)
    assert in_kbps.item() == pytest.approx(0.0625)  # (10 bits · 25 fps / 1000)²
    assert in_bits.item() / in_kbps.item() == pytest.approx(1600.0)  # METHOD §5.2
    in_bits.backward()
    assert bits.grad.item() == pytest.approx(20.0)  # two-sided: 2·(H − H_target)
    assert rate_loss(torch.tensor(150.0), 160.0).item() == pytest.approx(100.0)
    with pytest.raises(ValueError, match="fps"):
        rate_loss(bits, 160.0, unit="kbps")
    with pytest.raises(ValueError, match="unit"):
        rate_loss(bits, 160.0, unit="bps")


# --- DDP: two gloo ranks on CPU, each holding a different number of frames -------------------------------------

FRAMES = (6, 10)  # unequal on purpose: the counts must be reduced too, not only the sums


def _rank_data(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    logits = torch.randn(FRAMES[rank], N, E, generator=g) * (1 + rank)  # ranks differ in distribution too
    codes = torch.randint(0, E - 2 * rank, (FRAMES[rank], N), generator=g)
    return torch.softmax(logits, dim=-1), codes


def _ddp_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        probs, codes = _rank_data(rank)
        probs.requires_grad_()
        bits = soft_bits_per_frame(probs)
        bits.backward()
        result = {
            "soft": bits.detach(),
            "soft_local": soft_bits_per_frame(probs.detach(), sync=False),
            "grad": probs.grad,
            "hard": code_bits_per_frame(codes, E),
            "hist": code_histogram(codes, E, sync=True),
        }
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_rates_are_global_and_gradients_local(tmp_path):
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))

    data = [_rank_data(r) for r in range(2)]
    all_probs = torch.cat([p for p, _ in data]).requires_grad_()
    all_codes = torch.cat([c for _, c in data])
    reference = soft_bits_per_frame(all_probs, sync=False)
    reference.backward()

    for r, res in enumerate((r0, r1)):
        torch.testing.assert_close(res["soft"], reference.detach())
        assert res["soft_local"].item() == pytest.approx(soft_bits_per_frame(data[r][0]).item(), abs=1e-5)
        assert res["hard"].item() == pytest.approx(code_bits_per_frame(all_codes, E).item(), abs=1e-6)
        assert torch.equal(res["hist"], code_histogram(all_codes, E))
        # Each rank's gradient is world_size × its share of the global gradient, so that DDP's averaging over
        # ranks reproduces the single-process gradient.
        share = all_probs.grad[sum(FRAMES[:r]) : sum(FRAMES[: r + 1])]
        assert torch.isfinite(res["grad"]).all()
        torch.testing.assert_close(res["grad"], 2 * share)
    assert r0["soft_local"].item() != pytest.approx(r1["soft_local"].item())  # the ranks did hold different data
