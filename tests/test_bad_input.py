"""Bad input to every command ends with exit code 2 and ONE line `motioncontent: error: ...` on stderr, no traceback:
a missing file, a wrong config key, a checkpoint of the wrong model or architecture, a video without a video
stream, an unwritable output folder. Each case is the installed command in a subprocess, on tiny inputs."""

from __future__ import annotations

import os

import lightning
import pytest
import torch

from talking_heads_media import make_audio_only, make_video
from test_cli import run as cli_run
from tiny_models import TINY_BCD, tiny_prior



def run(*args: str, **kwargs):  # noqa: ANN201
    # A generous limit: each case is a fresh interpreter importing torch, slow on a shared, busy machine.
    return cli_run(*args, timeout=kwargs.pop("timeout", 600), **kwargs)


TINY_RUN = ["--config", "configs/sprites.yaml", "--config", "configs/presets/tiny.yaml"]


def save(module: torch.nn.Module, path, class_path: str | None) -> str:
    """A checkpoint as `motioncontent fit` writes one: LightningCLI records the class in the hyperparameters."""
    params = dict(module.hparams)
    if class_path:
        params = {"_class_path": class_path, **params}
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": params, "global_step": 0,
                "pytorch-lightning_version": lightning.__version__}, path)
    return str(path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from motioncontent.systems import BCDModule
    from motioncontent.systems.judge import SpritesJudgeModule

    d = tmp_path_factory.mktemp("bad_input")
    torch.manual_seed(0)
    files = {
        "bcd": save(BCDModule(**TINY_BCD), d / "bcd.ckpt", "motioncontent.systems.BCDModule"),
        # another architecture (and another model: different weights, so a prior of `bcd` does not fit it)
        "other_bcd": save(BCDModule(**{**TINY_BCD, "denoiser_dim": 48, "motion_dim": 16}), d / "other.ckpt",
                          "motioncontent.systems.BCDModule"),
        "judge": save(SpritesJudgeModule(width=8, frame_dim=8, hidden=8), d / "judge.ckpt",
                      "motioncontent.systems.SpritesJudgeModule"),
    }
    files["prior"] = str(tiny_prior(d / "prior.ckpt", d / "bcd.ckpt"))
    files["audio"] = str(make_audio_only(d / "audio.mp4"))  # a real mp4 with an audio stream only
    (d / "text.mp4").write_text("this is not a video\n")
    files["text_video"] = str(d / "text.mp4")
    (d / "text.ckpt").write_text("this is not a checkpoint\n")
    files["text_ckpt"] = str(d / "text.ckpt")
    files["clip"] = str(make_video(d / "clip.mp4", frames=6, width=48, height=48))
    (d / "blocker").write_text("")  # a file where a folder is expected: unwritable for every user, root included
    files["blocked"] = str(d / "blocker" / "out")
    files["missing"] = str(d / "missing")
    bad_yaml = d / "bad_key.yaml"
    bad_yaml.write_text("model:\n  class_path: motioncontent.systems.BCDModule\n  init_args:\n    denoiser_dimm: 3\n")
    files["bad_yaml"] = str(bad_yaml)
    files["dir"] = str(d)
    return files


def one_error_line(result, *fragments: str) -> str:
    """Assert the convention and return the line: exit 2, stderr exactly one line, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("motioncontent: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---- fit / validate / test / predict (LightningCLI) -----------------------------------------------------------
def test_missing_config_file(inputs):
    one_error_line(run("fit", "--config", inputs["missing"] + ".yaml"), "missing.yaml", "fit --help")


def test_wrong_key_on_the_command_line(inputs):
    one_error_line(run("fit", *TINY_RUN, "--trainer.max_stepz=3"), "max_stepz")


def test_wrong_key_in_a_config_file(inputs):
    one_error_line(run("fit", "--config", "configs/sprites.yaml", "--config", inputs["bad_yaml"]), "denoiser_dimm")


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_missing_ckpt_path(inputs, subcommand):
    one_error_line(run(subcommand, *TINY_RUN, "--ckpt_path", inputs["missing"] + ".ckpt"),
                   "--ckpt_path checkpoint not found", "missing.ckpt")


def test_ckpt_path_of_another_model(inputs):
    one_error_line(run("validate", *TINY_RUN, "--ckpt_path", inputs["judge"]),
                   "is not a BCDModule checkpoint", "it holds a SpritesJudgeModule")


def test_ckpt_path_for_other_frames(inputs):
    # TINY_BCD is a 32 px model; LightningCLI would build it from the checkpoint and fail on the 64 px sprites
    one_error_line(run("validate", *TINY_RUN, "--ckpt_path", inputs["bcd"]), "image_size=32", "image_size=64")


def test_ckpt_path_that_is_not_a_checkpoint(inputs):
    # the resume machinery's check of the zip container answers first (callbacks/checkpointing.py)
    one_error_line(run("test", *TINY_RUN, "--ckpt_path", inputs["text_ckpt"]), "text.ckpt is unusable",
                   "not a checkpoint")


def test_stage1_checkpoint_of_another_architecture(inputs):
    one_error_line(run("fit", *TINY_RUN, "--model.init_args.stage1_checkpoint", inputs["other_bcd"]),
                   "does not fit this model")


def test_unwritable_log_folder(inputs):
    one_error_line(run("fit", *TINY_RUN, f"--trainer.logger.init_args.save_dir={inputs['blocked']}"),
                   "cannot write", "is a file, not a folder")


PREDICT = ["predict", "--config", "configs/predict_talking_heads.yaml", "--trainer.accelerator", "cpu",
           "--data.init_args.mode", "reconstruct"]


@pytest.mark.parametrize("problem", ["judge_checkpoint", "audio_only", "text_as_mp4", "missing_video", "unwritable"])
def test_predict(inputs, problem):
    args = {"bcd": inputs["bcd"], "source": inputs["clip"], "out": os.path.join(inputs["dir"], "predict_out")}
    expected = {"judge_checkpoint": "not a BCDModule checkpoint", "audio_only": "no video stream",
                "text_as_mp4": "text.mp4", "missing_video": "missing.mp4", "unwritable": "cannot write"}[problem]
    if problem == "judge_checkpoint":
        args["bcd"] = inputs["judge"]
    elif problem == "audio_only":
        args["source"] = inputs["audio"]
    elif problem == "text_as_mp4":
        args["source"] = inputs["text_video"]
    elif problem == "missing_video":
        args["source"] = inputs["missing"] + ".mp4"
    else:
        args["out"] = inputs["blocked"]
    one_error_line(run(*PREDICT, "--model.init_args.bcd_checkpoint", args["bcd"], "--data.init_args.source",
                       args["source"], "--trainer.default_root_dir", args["out"],
                       "--trainer.callbacks.init_args.output_dir", args["out"]), expected)


# ---- data -----------------------------------------------------------------------------------------------------
def test_data_sprites_wrong_key():
    one_error_line(run("data", "sprites", "--config", "configs/sprites.yaml", "--data.init_args.sourze=lpc"),
                   "sourze", "data sprites --help")


def test_data_sprites_unwritable_cache(inputs):
    one_error_line(run("data", "sprites", "--config", "configs/sprites.yaml", "--config",
                       "configs/data/sprites_procedural.yaml", f"--data.init_args.data_dir={inputs['blocked']}"),
                   "cannot write to the cache folder", "is a file, not a folder")


def test_data_sprites_unwritable_preview(inputs):
    one_error_line(run("data", "sprites", "--config", "configs/sprites.yaml",
                       "--preview", os.path.join(inputs["blocked"], "p.png")), "cannot write", "preview")


def test_data_talking_heads_missing_source(inputs):
    one_error_line(run("data", "talking-heads", "--src", inputs["missing"], "--dst",
                       os.path.join(inputs["dir"], "th_missing")), "does not exist")


@pytest.mark.parametrize("video", ["audio", "text_video"])
def test_data_talking_heads_without_a_video_stream(inputs, video, tmp_path):
    one_error_line(run("data", "talking-heads", "--src", inputs[video], "--dst", str(tmp_path / "cache"),
                       "--progress", "false"), "no usable clips")
    reason = {"audio": "skipped audio.mp4: no video stream (audio only)",
              "text_video": "skipped text.mp4: not a video: a text file"}[video]
    assert reason in (tmp_path / "cache" / "report.txt").read_text()  # the report says why, per input


def test_data_talking_heads_unwritable_cache(inputs):
    one_error_line(run("data", "talking-heads", "--src", inputs["clip"], "--dst", inputs["blocked"]),
                   "cannot write to the cache folder")


# ---- eval -----------------------------------------------------------------------------------------------------
def test_eval_sprites_judge_given_as_the_model(inputs):
    one_error_line(run("eval", "sprites", "--config", "configs/sprites.yaml", "--ckpt_path", inputs["judge"],
                       "--judge", inputs["judge"]), "is not a BCDModule checkpoint", "SpritesJudgeModule")


def test_eval_sprites_model_given_as_the_judge(inputs):
    one_error_line(run("eval", "sprites", "--config", "configs/sprites.yaml", "--ckpt_path", inputs["bcd"],
                       "--judge", inputs["bcd"]), "is not a SpritesJudgeModule checkpoint", "BCDModule")


def test_eval_sprites_unwritable_report_folder(inputs):
    one_error_line(run("eval", "sprites", "--config", "configs/sprites.yaml", "--ckpt_path", inputs["bcd"],
                       "--judge", inputs["judge"], "--out", inputs["blocked"]), "cannot write to the report folder")


@pytest.mark.parametrize("option, value, expected", [("--sampler", "ddim", "unknown sampler 'ddim'"),
                                                     ("--guidance", "-1", "content guidance must be 0 or more"),
                                                     ("--guidance_interval", "[5, 1]", "needs 0 <= lo < hi")])
def test_eval_sprites_bad_sampling_option(inputs, option, value, expected):
    one_error_line(run("eval", "sprites", "--config", "configs/sprites.yaml", "--ckpt_path", inputs["bcd"],
                       "--judge", inputs["judge"], option, value), expected)


def test_eval_sweep_wrong_option():
    one_error_line(run("eval", "sweep-sprites", "--targetz", "3"), "--targetz")


# ---- codec ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("video, expected", [("audio", "no video stream"), ("text_video", "text.mp4"),
                                             ("missing", "missing")])
def test_codec_encode_bad_video(inputs, video, expected):
    one_error_line(run("codec", "encode", inputs[video], os.path.join(inputs["dir"], "x.mcb"), "--ckpt",
                       inputs["bcd"]), expected)


def test_codec_encode_judge_checkpoint(inputs):
    one_error_line(run("codec", "encode", inputs["clip"], os.path.join(inputs["dir"], "x.mcb"), "--ckpt",
                       inputs["judge"]), "is not a BCDModule checkpoint")


def test_codec_encode_prior_of_another_model(inputs):
    one_error_line(run("codec", "encode", inputs["clip"], os.path.join(inputs["dir"], "x.mcb"), "--ckpt",
                       inputs["other_bcd"], "--prior", inputs["prior"]), "was trained on the codes of BCD model")


def test_codec_encode_unwritable_output(inputs):
    one_error_line(run("codec", "encode", inputs["clip"], os.path.join(inputs["blocked"], "x.mcb"), "--ckpt",
                       inputs["bcd"]), "cannot write to the folder of the bitstream", "blocker")


def test_codec_decode_missing_file(inputs):
    one_error_line(run("codec", "decode", inputs["missing"] + ".mcb", os.path.join(inputs["dir"], "x.mp4"),
                       "--ckpt", inputs["bcd"]), "missing.mcb")


def test_codec_wrong_option(inputs):
    one_error_line(run("codec", "encode", inputs["clip"], "x.mcb", "--ckpt", inputs["bcd"], "--windoww", "3"),
                   "windoww", "codec encode --help")
