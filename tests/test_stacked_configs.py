"""benchmarks/stacked_configs.py: config files merged as the command line stacks them."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import stacked_configs  # noqa: E402


def test_later_files_and_overrides_win(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("model:\n  init_args: {lr: 0.1, depth: 2}\ntrainer: {max_steps: 5}\n")
    second.write_text("model:\n  init_args: {lr: 0.2}\ndata:\n  init_args: {batch_size: 8}\n")
    paths = [str(first), str(second)]
    assert stacked_configs.model_args(paths) == {"lr": 0.2, "depth": 2}
    assert stacked_configs.model_args(paths, ["depth=3", "name=[1, 2]"]) == {"lr": 0.2, "depth": 3, "name": [1, 2]}
    assert stacked_configs.merged_section(paths, "data") == {"batch_size": 8}
    assert stacked_configs.merged_section(paths, "trainer", key=None) == {"max_steps": 5}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        stacked_configs.model_args(paths, ["depth"])
