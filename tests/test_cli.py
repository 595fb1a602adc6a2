"""The `motioncontent` command as a user runs it (a subprocess through the installed console script); commands that
only parse (--help, --print_config) run in this process (`printed_by`)."""

import contextlib
import io
import os
import shutil
import subprocess
import sys
from unittest import mock

import pytest
import yaml

from conftest import REPO


def run(*args, env=None, timeout=120):
    exe = shutil.which("motioncontent") or os.path.join(os.path.dirname(sys.executable), "motioncontent")
    return subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def printed_by(*args: str) -> str:
    """What `motioncontent ARGS` prints, run in this process, for commands that only parse and exit 0 (--help,
    --print_config): no fresh interpreter spends ~5 s importing torch and Lightning (two minutes of CI over the cases
    that use it here and in test_scale_configs.py). The console script itself is covered by the subprocess tests."""
    from motioncontent.cli import main

    printed = io.StringIO()
    with mock.patch.object(sys, "argv", ["motioncontent"]), contextlib.redirect_stdout(printed), \
            pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == 0
    return printed.getvalue()


def resolved_config(*args: str) -> dict:
    """The config `motioncontent fit ARGS` would run with (its --print_config), parsed."""
    return yaml.safe_load(printed_by("fit", *args, "--print_config"))


def test_print_config_resolves_the_sprites_config():
    result = run("fit", "--config", "configs/sprites.yaml", "--print_config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["data"]["class_path"] == "motioncontent.data.SpritesDataModule"
    assert config["data"]["init_args"]["split_seed"] == 423
    assert config["trainer"]["precision"] == "32-true"


def test_source_presets_stack_on_the_run_config():
    init = resolved_config("--config", "configs/sprites.yaml", "--config", "configs/data/sprites_npy.yaml",
                           "--data.init_args.batch_size=4")["data"]["init_args"]
    assert (init["source"], init["npy_root"], init["batch_size"], init["data_dir"]) == ("npy", "data/sprites_npy", 4, "data")


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_lightning_subcommands_exist(subcommand):
    assert "--ckpt_path" in printed_by(subcommand, "--help")


def test_data_sprites_builds_the_cache_and_writes_a_preview(lpc_root, tmp_path):
    result = run("data", "sprites", "--config", "configs/sprites.yaml", "--data.init_args.data_dir", str(tmp_path),
                 "--preview", str(tmp_path / "preview.png"), env={"SPRITES_LPC": str(lpc_root)})
    assert result.returncode == 0, result.stderr
    assert "Sprites source: lpc" in result.stdout and "train: 9000 sequences of 1000 characters" in result.stdout
    assert (tmp_path / "sprites" / "lpc" / "manifest.json").is_file()
    from PIL import Image

    assert Image.open(tmp_path / "preview.png").size == (8 * 64 * 2, 9 * 64 * 2)


def test_wrong_lpc_root_is_one_line_and_exit_2(tmp_path):
    result = run("data", "sprites", "--config", "configs/sprites.yaml", "--config", "configs/data/sprites_lpc.yaml",
                 "--data.init_args.lpc_root", str(tmp_path / "missing"), "--data.init_args.data_dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("motioncontent: error: LPC layer folder")
    assert str(tmp_path / "missing") in lines[0]


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp", "ddp_sim"])
def test_trainer_configs_stack_on_any_model_config(trainer):
    for model_config in ("configs/sprites.yaml", "configs/sprites_large.yaml", "configs/talking_heads.yaml"):
        resolved = resolved_config("--config", model_config, "--config", f"configs/trainer/{trainer}.yaml")["trainer"]
        wanted = yaml.safe_load(open(f"configs/trainer/{trainer}.yaml"))["trainer"]
        assert {key: resolved[key] for key in wanted} == wanted
