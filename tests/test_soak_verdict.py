"""The soak's verdict (benchmarks/soak.py) compares memory at the same point of the training cycle: a sawtooth whose
mid-epoch working set is twice the memory retained at epoch ends passes, the same sawtooth climbing 10% over the run
fails on both measures, and a run that never finished two epochs has no verdict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("soak", Path(__file__).parents[1] / "benchmarks" / "soak.py")
soak = importlib.util.module_from_spec(SPEC)
sys.modules["soak"] = soak  # dataclasses look their module up there
SPEC.loader.exec_module(soak)
MIB = soak.MIB


def sawtooth_run(epochs: int, climb: float) -> "soak.Samples":
    """Epochs of 10 samples 1 s apart: memory rises from the retained floor to twice it within each epoch and falls
    back at its end; floor and peak grow by the factor `climb` from the first epoch to the last."""
    samples = soak.Samples()
    for epoch in range(epochs):
        scale = 1.0 + (climb - 1.0) * epoch / max(epochs - 1, 1)
        floor = 400 * MIB * scale
        for k in range(10):
            samples.points.append((epoch * 10 + k + 0.5, 1000 * MIB + floor * (1 + k / 9), floor * (1 + k / 9), epoch))
        samples.epoch_end.append((1000 * MIB + floor, floor))
    samples.first_epoch_end, samples.train_end, samples.epochs_done = 10.0, epochs * 10.0, epochs
    return samples


def test_a_flat_sawtooth_passes_although_its_peaks_double_the_first_epoch_end() -> None:
    samples = sawtooth_run(epochs=12, climb=1.0)
    assert soak.growth(samples, 1).growth_pct == pytest.approx(100.0)  # what the old max-over-epoch-1 rule judged
    judged = soak.verdict(samples, tolerance_pct=5.0, column=1)
    assert judged.epoch_end_pct == pytest.approx(0.0) and judged.peak_pct == pytest.approx(0.0)
    assert judged.passed is True
    assert soak.table(samples, 1.0, 5.0, "test", 60.0)[0].splitlines()[-1].endswith("| PASS |")


def test_a_sawtooth_climbing_ten_percent_fails_on_floor_and_peak() -> None:
    judged = soak.verdict(sawtooth_run(epochs=12, climb=1.1), tolerance_pct=5.0, column=1)
    assert judged.epoch_end_pct == pytest.approx(10.0)
    assert judged.peak_pct > 5.0
    assert judged.passed is False


def test_one_epoch_gives_no_verdict() -> None:
    judged = soak.verdict(sawtooth_run(epochs=1, climb=1.0), tolerance_pct=5.0, column=1)
    assert judged.epoch_end_pct is None and judged.passed is None
