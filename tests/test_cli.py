"""The `motioncontent` command as a user runs it (a subprocess through the installed console script)."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO


def run(*args, env=None, timeout=120):
    exe = shutil.which("motioncontent") or os.path.join(os.path.dirname(sys.executable), "motioncontent")
    return subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_print_config_resolves_the_sprites_config():
    result = run("fit", "--config", "configs/sprites.yaml", "--print_config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["data"]["class_path"] == "motioncontent.data.SpritesDataModule"
    assert config["data"]["init_args"]["split_seed"] == 423
    assert config["trainer"]["precision"] == "32-true"


def test_source_presets_stack_on_the_run_config():
    result = run("fit", "--config", "configs/sprites.yaml", "--config", "configs/data/sprites_npy.yaml",
                 "--data.init_args.batch_size=4", "--print_config")
    assert result.returncode == 0, result.stderr
    init = yaml.safe_load(result.stdout)["data"]["init_args"]
    assert (init["source"], init["npy_root"], init["batch_size"], init["data_dir"]) == ("npy", "data/sprites_npy", 4, "data")


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_lightning_subcommands_exist(subcommand):
    result = run(subcommand, "--help")
    assert result.returncode == 0 and "--ckpt_path" in result.stdout


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
        result = run("fit", "--config", model_config, "--config", f"configs/trainer/{trainer}.yaml", "--print_config")
        assert result.returncode == 0, result.stderr[-2000:]
        resolved = yaml.safe_load(result.stdout)["trainer"]
        wanted = yaml.safe_load(open(f"configs/trainer/{trainer}.yaml"))["trainer"]
        assert {key: resolved[key] for key in wanted} == wanted
