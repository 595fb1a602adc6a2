"""benchmarks/train_efficiency.py: the hand-written DiT FLOP count equals FlopCounterMode's op-by-op count (spatial
and temporal layers), the counted training-step FLOPs scale with the batch as the benchmark assumes, and the
benchmark prints a row with an MFU between 0 and 100% for a tiny config on this CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import train_efficiency  # noqa: E402

from motioncontent.models.dit import DiTDenoiser  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402
from tiny_models import TINY_BCD  # noqa: E402


@pytest.mark.parametrize("temporal", [False, True])
def test_the_hand_count_of_the_dit_equals_the_op_by_op_count(temporal: bool) -> None:
    torch.manual_seed(0)
    dit = DiTDenoiser(in_channels=4, in_size=8, patch_size=2, dim=32, depth=2, heads=2, motion_dim=8,
                      content_dim=16, temporal=temporal, max_frames=8)
    clips, frames, k = 3, 5, 2
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        dit(torch.randn(clips, frames, 4, 8, 8), torch.randn(clips), torch.randn(clips, frames, 8),
            torch.randn(clips, k, 16))
    assert train_efficiency.dit_forward_flops(dit, clips * frames, k, clips) == counter.get_total_flops()


def test_counted_step_flops_scale_with_the_batch_and_the_denoiser_is_found() -> None:
    torch.manual_seed(0)
    model = BCDModule(**TINY_BCD)
    video = torch.rand(4, 8, 3, 32, 32) * 2 - 1
    step2, denoiser2, forward2 = train_efficiency.model_flops(model, video[:2])
    step4, denoiser4, forward4 = train_efficiency.model_flops(model, video)
    assert (step4, denoiser4, forward4) == (2 * step2, 2 * denoiser2, 2 * forward2)
    # the denoiser sees segment B: half of each 8-frame clip; K content tokens from the config
    assert denoiser2 == train_efficiency.dit_forward_flops(model.denoiser, 2 * 4, TINY_BCD["num_content_queries"], 2)
    assert 0 < denoiser2 < forward2 < step2 <= 3 * forward2  # backward: at most twice the forward


def test_the_benchmark_prints_a_row_with_an_mfu_for_a_tiny_config(tmp_path: Path, capsys) -> None:
    config = {"model": {"init_args": TINY_BCD}, "data": {"init_args": {"batch_size": 2, "num_frames": 8}}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    train_efficiency.main(["--configs", str(path), "--device", "cpu", "--steps", "2"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {path} |")]
    assert len(row) == 1
    cells = [cell.strip() for cell in row[0].strip("|").split("|")]
    assert cells[1:4] == ["2", "32-true", "off"]
    mfu = float(cells[9].rstrip("%"))
    assert 0.0 < mfu < 100.0
    assert "measured 2048^3 fp32 matmul" in cells[10]
