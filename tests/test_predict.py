"""`motioncontent predict`: each mode on a tiny untrained checkpoint writes playable mp4s with the right frame count,
the comparison video and the JSON of the run; bad inputs end with one error line."""

from __future__ import annotations

import itertools
import json
import sys

import av
import numpy as np
import pytest
from PIL import Image

from talking_heads_media import make_audio_only, make_video
from tiny_models import tiny_bcd, tiny_prior


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    bcd = tiny_bcd(folder / "bcd.ckpt")
    return {"bcd": bcd, "prior": tiny_prior(folder / "prior.ckpt", bcd)}


def predict(monkeypatch, out, *args):
    from motioncontent.cli import main

    monkeypatch.setattr(sys, "argv", ["motioncontent"])
    main(["predict", "--config", "configs/predict_talking_heads.yaml", "--trainer.accelerator", "cpu",
          "--trainer.default_root_dir", str(out), "--trainer.callbacks.init_args.output_dir", str(out), *args])
    return json.loads((out / "predict_summary.json").read_text())


def test_transfer_from_an_image_streams_windows_and_writes_every_frame(models, tmp_path, monkeypatch):
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(tmp_path / "face.png")
    driving = make_video(tmp_path / "driving.mp4", frames=21, width=48, height=40)
    summary = predict(monkeypatch, tmp_path / "out", "--model.init_args.bcd_checkpoint", str(models["bcd"]),
                      "--data.init_args.source", str(tmp_path / "face.png"), "--data.init_args.driving", str(driving),
                      "--data.init_args.window", "8")  # 21 frames = 2 full windows + a short one
    job = summary["jobs"][0]
    assert job["frames"] == 21 and job["mode"] == "transfer" and job["frames_per_second"] > 0
    result = decoded_frames(tmp_path / "out" / "transfer_face_driving.mp4")
    assert len(result) == 21 and result[0].shape == (32, 32, 3)
    compare = decoded_frames(tmp_path / "out" / "transfer_face_driving_compare.mp4")
    assert len(compare) == 21 and compare[0].shape == (32, 3 * 32, 3)  # source | driving | result
    assert not list((tmp_path / "out").glob(".*partial"))


def test_reconstruct_a_video(models, tmp_path, monkeypatch):
    clip = make_video(tmp_path / "clip.mp4", frames=10, fps=30.0, width=64, height=48)  # 30 fps -> 25 fps: 9 frames
    summary = predict(monkeypatch, tmp_path / "out", "--model.init_args.bcd_checkpoint", str(models["bcd"]),
                      "--data.init_args.mode", "reconstruct", "--data.init_args.source", str(clip),
                      "--model.init_args.guidance", "2", "--model.init_args.guidance_interval", "[0, 5]")
    assert summary["jobs"][0]["frames"] == 9
    assert (summary["guidance"], summary["guidance_interval"]) == (2.0, [0.0, 5.0])  # the sampling is on record
    assert len(decoded_frames(tmp_path / "out" / "reconstruct_clip.mp4")) == 9
    assert decoded_frames(tmp_path / "out" / "reconstruct_clip_compare.mp4")[0].shape == (32, 64, 3)  # input | result


def test_generate_with_the_prior_and_a_prompt(models, tmp_path, monkeypatch):
    clip = make_video(tmp_path / "clip.mp4", frames=6, width=48, height=48)
    summary = predict(monkeypatch, tmp_path / "out", "--model.init_args.bcd_checkpoint", str(models["bcd"]),
                      "--model.init_args.prior_checkpoint", str(models["prior"]), "--data.init_args.mode", "generate",
                      "--data.init_args.source", str(clip), "--data.init_args.driving", str(clip),
                      "--data.init_args.frames", "11", "--model.init_args.top_k", "2")
    assert summary["jobs"][0]["frames"] == 11
    assert len(decoded_frames(tmp_path / "out" / "generate_clip_clip.mp4")) == 11


def test_generate_without_a_prior_is_one_error_line(models, tmp_path, monkeypatch, capsys):
    clip = make_video(tmp_path / "clip.mp4", frames=4)
    with pytest.raises(SystemExit) as exit_info:
        predict(monkeypatch, tmp_path / "out", "--model.init_args.bcd_checkpoint", str(models["bcd"]),
                "--data.init_args.mode", "generate", "--data.init_args.source", str(clip))
    assert exit_info.value.code == 2
    assert "model.prior_checkpoint" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("problem", ["missing", "audio_only", "wrong_checkpoint", "unwritable"])
def test_bad_inputs_end_with_one_line(models, tmp_path, monkeypatch, capsys, problem):
    clip = make_video(tmp_path / "clip.mp4", frames=4)
    args = {"bcd": str(models["bcd"]), "source": str(clip), "out": tmp_path / "out"}
    if problem == "missing":
        args["source"] = str(tmp_path / "nothing.mp4")
    elif problem == "audio_only":
        args["source"] = str(make_audio_only(tmp_path / "audio.m4a"))
    elif problem == "wrong_checkpoint":
        args["bcd"] = str(models["prior"])
    else:
        (tmp_path / "file").write_text("")
        args["out"] = tmp_path / "file" / "out"
    with pytest.raises(SystemExit) as exit_info:
        predict(monkeypatch, args["out"], "--model.init_args.bcd_checkpoint", args["bcd"],
                "--data.init_args.mode", "reconstruct", "--data.init_args.source", args["source"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("motioncontent: error: ")
    expected = {"missing": "no such file", "audio_only": "no video stream", "wrong_checkpoint": "not a BCDModule",
                "unwritable": "cannot write to the output folder"}[problem]
    assert expected in lines[-1]


def test_track_crops_keeps_every_frame_and_bridges_gaps():
    from motioncontent.data.video_frames import track_crops
    from motioncontent.data.video_io import VideoError

    boxes = np.full((30, 4), np.nan)
    boxes[5:12] = [100, 50, 200, 150]
    boxes[20:25] = [120, 50, 220, 150]  # moved 20 px right after a gap; frames 0-4 and 25-29 have no face
    cx, cy, side = track_crops(boxes, fps=25.0)
    assert len(cx) == len(cy) == len(side) == 30
    assert cx[0] == pytest.approx(150, abs=1) and cx[-1] == pytest.approx(170, abs=1)  # the ends hold the nearest face
    assert 150 < cx[15] < 170 and np.allclose(side, 120, atol=1)  # the gap is bridged; 1.2 x the box
    with pytest.raises(VideoError, match="no face"):
        track_crops(np.full((10, 4), np.nan), fps=25.0)


def test_face_detect_crop_on_the_portrait_sample_clip():
    pytest.importorskip("mediapipe")
    from talking_heads_media import shared_clip

    from motioncontent.data.video_frames import FrameSource

    detected = list(itertools.islice(FrameSource(shared_clip("d13"), 64, 25.0, crop="detect").frames(), 5))
    centred = next(FrameSource(shared_clip("d13"), 64, 25.0, crop="none").frames())
    assert len(detected) == 5 and detected[0].shape == (64, 64, 3)
    # The 720x1280 portrait's face fills a fraction of its centre square: the face crop is a different, closer view.
    assert np.abs(detected[0].astype(float) - centred).mean() > 20


def test_transfer_between_dataset_items(models, tmp_path, monkeypatch):
    dataset = json.dumps({"class_path": "motioncontent.data.TalkingHeadDataModule",
                          "init_args": {"data_dir": str(tmp_path / "data"), "image_size": 32, "num_identities": 8,
                                        "clips_per_identity": 1, "clip_frames": 16, "num_frames": 12}})
    summary = predict(monkeypatch, tmp_path / "out", "--model.init_args.bcd_checkpoint", str(models["bcd"]),
                      "--data.init_args.dataset", dataset, "--data.init_args.source", "test:0",
                      "--data.init_args.driving", "test:0", "--data.init_args.window", "5")
    assert summary["jobs"][0]["frames"] == 12
    assert len(decoded_frames(tmp_path / "out" / "transfer_test0_test0.mp4")) == 12
