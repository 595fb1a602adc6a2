"""The preprocessing run: bad inputs skipped and listed, resumability, layouts (VoxCeleb tree, frame folders,
lists), identities, box crops, workers, and the `motioncontent data talking-heads` command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from talking_heads_media import frame_index, index_frame, make_salted_folder, make_video

from motioncontent.cli import main
from motioncontent.data.talking_heads import extract, face_detect
from motioncontent.data.talking_heads import preprocess as prep
from motioncontent.data.talking_heads.preprocess import PreprocessSettings, preprocess
from motioncontent.data.talking_heads.sources import identity_of, list_inputs
from motioncontent.errors import DataError

NONE = PreprocessSettings(crop="none", size=16, clip_len=8)


@pytest.fixture
def salted(tmp_path):
    src = tmp_path / "src"
    bad = make_salted_folder(src)
    return src, bad


def _skipped(manifest):
    return {s["source"]: s["reason"] for s in manifest["skipped"]}


def test_salted_folder_skips_exactly_the_bad_inputs_with_reasons(salted, tmp_path):
    src, bad = salted
    result = preprocess(src, tmp_path / "dst", NONE, progress=False)
    skipped = _skipped(result.manifest)
    assert set(skipped) == set(bad)
    for source, keyword in bad.items():
        assert keyword in skipped[source], (source, skipped[source])
    assert {c["source"] for c in result.manifest["clips"]} == {"person0/talk0.mp4", "person1/talk1.mp4",
                                                                "person0/talk2.mp4"}
    report = result.report.read_text().splitlines()
    assert sorted(line.split(":")[0] for line in report if line.startswith("skipped ")) == \
        sorted(f"skipped {s}" for s in bad)
    assert report[-1] == result.summary
    assert "10 inputs -> 3 used (3 clips, 60 frames" in result.summary and "7 skipped" in result.summary
    assert "1 other files ignored" in result.summary  # bad/README.txt: not a video extension, but counted


def test_clips_hold_the_right_frames_at_the_right_size(salted, tmp_path):
    src, _ = salted
    manifest = preprocess(src, tmp_path / "dst", PreprocessSettings(crop="none", size=24, clip_len=8),
                          progress=False).manifest
    clip = next(c for c in manifest["clips"] if c["source"] == "person1/talk1.mp4")
    video = np.load(tmp_path / "dst" / clip["file"])
    assert video.shape == (20, 24, 24, 3) and video.dtype == np.uint8
    assert [frame_index(f) for f in video] == list(range(20))
    assert clip["identity"] == "person1" and clip["fps"] == 25.0 and clip["size"] == 24


def test_rerun_skips_finished_inputs_and_removes_leftover_temporaries(salted, tmp_path, monkeypatch):
    src, bad = salted
    dst = tmp_path / "dst"
    first = preprocess(src, dst, NONE, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in (dst / "clips").iterdir()}
    leftovers = [dst / "clips" / ".tmp-999999-x.npy", dst / "records" / ".tmp-999999-y.json"]
    for path in leftovers:
        path.write_bytes(b"half written")

    def no_work(*args, **kwargs):
        raise AssertionError("a finished input was processed again")

    monkeypatch.setattr(prep, "process_input", no_work)
    second = preprocess(src, dst, NONE, progress=False)
    assert f"; {len(bad) + 3} done by an earlier run" in second.summary
    assert second.manifest["clips"] == first.manifest["clips"]
    assert {p: p.stat().st_mtime_ns for p in (dst / "clips").iterdir()} == stamps
    assert not any(p.exists() for p in leftovers)


def test_an_interrupted_run_loses_only_the_input_in_flight(salted, tmp_path, monkeypatch):
    src, _ = salted
    dst = tmp_path / "dst"
    real, calls = prep.process_input, []

    def interrupted(item, settings, dst_):
        calls.append(item.rel)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(item, settings, dst_)

    monkeypatch.setattr(prep, "process_input", interrupted)
    with pytest.raises(KeyboardInterrupt):
        preprocess(src, dst, NONE, progress=False)
    assert not (dst / "manifest.json").exists() and not (dst / ".lock").exists()
    redone = []
    monkeypatch.setattr(prep, "process_input", lambda item, s, d: redone.append(item.rel) or real(item, s, d))
    result = preprocess(src, dst, NONE, progress=False)
    assert calls[2] in redone and not set(calls[:2]) & set(redone)  # only the one in flight is redone
    assert len(result.manifest["clips"]) == 3


def test_changed_source_or_recipe_is_redone_and_old_clips_removed(salted, tmp_path):
    src, _ = salted
    dst = tmp_path / "dst"
    preprocess(src, dst, NONE, progress=False)
    make_video(src / "person1" / "talk1.mp4", 30)  # replaced by a longer take
    result = preprocess(src, dst, NONE, progress=False)
    assert "; 9 done by an earlier run" in result.summary
    assert next(c for c in result.manifest["clips"] if c["source"] == "person1/talk1.mp4")["frames"] == 30
    result = preprocess(src, dst, PreprocessSettings(crop="none", size=32, clip_len=8), progress=False)
    assert "earlier" not in result.summary
    files = sorted(p.name for p in (dst / "clips").iterdir())
    assert files == sorted(Path(c["file"]).name for c in result.manifest["clips"])
    assert all(np.load(dst / c["file"], mmap_mode="r").shape[1] == 32 for c in result.manifest["clips"])


def test_parallel_workers_give_the_same_cache(salted, tmp_path):
    src, _ = salted
    one = preprocess(src, tmp_path / "one", NONE, workers=1, progress=False).manifest
    two = preprocess(src, tmp_path / "two", NONE, workers=2, progress=False).manifest
    assert one["clips"] == two["clips"] and one["skipped"] == two["skipped"]
    for clip in one["clips"]:
        assert (tmp_path / "one" / clip["file"]).read_bytes() == (tmp_path / "two" / clip["file"]).read_bytes()


def test_zero_usable_clips_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    make_video(tmp_path / "src" / "short.mp4", 3)
    with pytest.raises(DataError, match="no usable clips: all 1 inputs were skipped"):
        preprocess(tmp_path / "src", tmp_path / "dst", NONE, progress=False)
    assert "too short" in (tmp_path / "dst" / "report.txt").read_text()
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "talking-heads", "--src", str(tmp_path / "src"), "--dst", str(tmp_path / "dst2"),
              "--crop", "none", "--progress", "false"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("motioncontent: error: no usable clips")


def test_voxceleb_tree_frame_folders_and_identities(tmp_path):
    src = tmp_path / "vox"
    for person, video in (("id10001", "abc"), ("id10002", "xyz")):
        (src / person / video).mkdir(parents=True)
        make_video(src / person / video / "00001.mp4", 12, fps=10)
    Image.fromarray(index_frame(0)).save(src / "id10001" / "abc" / "cover.jpg")  # a thumbnail beside a video
    frames = src / "id10003" / "pngvideo" / "00001"
    frames.mkdir(parents=True)
    for i in range(10):
        Image.fromarray(index_frame(i)).save(frames / f"{i:07d}.png")
    result = preprocess(src, tmp_path / "dst", PreprocessSettings(crop="none", size=16, clip_len=8, frames_fps=10),
                        progress=False)
    by_source = {c["source"]: c for c in result.manifest["clips"]}
    assert set(by_source) == {"id10001/abc/00001.mp4", "id10002/xyz/00001.mp4", "id10003/pngvideo/00001"}
    assert {c["identity"] for c in by_source.values()} == {"id10001", "id10002", "id10003"}
    assert by_source["id10003/pngvideo/00001"]["frames"] == 25  # 10 images at 10 fps -> 1 s at 25 fps
    assert by_source["id10001/abc/00001.mp4"]["frames"] == 30
    assert result.manifest["ignored_files"] == 1  # the thumbnail


def test_identity_rules():
    assert identity_of("id10001/abc/00001.mp4") == "id10001"
    assert identity_of("id10001/abc/00001.mp4", level=-1) == "abc"
    assert identity_of("alice.mp4") == "alice"  # a file in the root is its own identity
    vox_png = "train/id10280#NXjT3732Ekg#001093#001.mp4"
    assert identity_of(vox_png, regex=r"([^/#]+)#") == "id10280"
    assert identity_of("x/y.mp4", regex=r"(id\d+)") is None


def test_list_file_with_comments_and_relative_paths(tmp_path):
    (tmp_path / "a").mkdir()
    make_video(tmp_path / "a" / "one.mp4", 10)
    make_video(tmp_path / "a" / "two.mkv", 10)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my videos\na/one.mp4\n\n{tmp_path / 'a' / 'two.mkv'}\n")
    items = list_inputs(listing).items
    assert [i.rel for i in items] == ["one.mp4", "two.mkv"] and all(i.kind == "video" for i in items)
    with pytest.raises(DataError, match="does not exist"):
        list_inputs(tmp_path / "nope")
    assert [i.rel for i in list_inputs(tmp_path / "a" / "one.mp4").items] == ["one.mp4"]
    (tmp_path / "notes.csv").write_text("x\n")
    with pytest.raises(DataError, match="neither a video nor a .txt list"):
        list_inputs(tmp_path / "notes.csv")


def test_box_crop_follows_the_sidecar_boxes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    content, rows = [], ["frame,left,top,right,bottom"]
    for i in range(20):  # a white 20x20 "face" moving right on black
        frame = np.zeros((96, 128, 3), np.uint8)
        x = 20 + 3 * i
        frame[30:50, x : x + 20] = 255
        content.append(frame)
        rows.append(f"{i},{x},30,{x + 20},50")
    make_video(src / "square.mp4", 20, width=128, height=96, content=content)
    (src / "square.boxes.csv").write_text("\n".join(rows) + "\n")
    make_video(src / "nobox.mp4", 20)
    settings = PreprocessSettings(crop="box", size=24, clip_len=8)
    result = preprocess(src, tmp_path / "dst", settings, progress=False)
    assert _skipped(result.manifest) == {"nobox.mp4": "no box file nobox.boxes.csv (needed by --crop box)"}
    video = np.load(tmp_path / "dst" / result.manifest["clips"][0]["file"]).astype(float)
    # the square (1/1.2 of the crop) stays centred: smoothing cannot lag a steady motion
    for frame in video[2:-2]:
        ys, xs = np.nonzero(frame[..., 0] > 128)
        assert abs(xs.mean() - 11.5) < 1.0 and abs(ys.mean() - 11.5) < 1.0
        assert 16 <= len(set(xs)) <= 22


def test_missing_mediapipe_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    (tmp_path / "src").mkdir()
    make_video(tmp_path / "src" / "a.mp4", 10)
    with pytest.raises(face_detect.MissingExtra, match=r"pip install 'motioncontent\[faces\]'"):
        preprocess(tmp_path / "src", tmp_path / "dst", PreprocessSettings(crop="detect"), progress=False)


def test_command_line_writes_cache_report_and_preview(salted, tmp_path, capsys):
    src, _ = salted
    dst, preview = tmp_path / "dst", tmp_path / "preview.png"
    main(["data", "talking-heads", "--src", str(src), "--dst", str(dst), "--crop", "none", "--size", "32",
          "--clip_len", "8", "--workers", "1", "--preview", str(preview), "--progress", "false"])
    out = capsys.readouterr().out
    assert "3 used (3 clips" in out and "7 skipped" in out and f"--data.init_args.cache_dir={dst}" in out
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["recipe"]["size"] == 32 and len(manifest["clips"]) == 3
    assert Image.open(preview).size == (8 * 32, 3 * 32)
    assert not os.path.exists(dst / ".lock")


def test_failure_after_some_clips_were_written_leaves_no_partial_files(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    make_video(tmp_path / "src" / "breaks.mp4", 40)
    make_video(tmp_path / "src" / "fine.mp4", 40)
    real = extract.iter_video

    def breaks_late(path, *args, **kwargs):
        for n, frame in enumerate(real(path, *args, **kwargs)):
            if "breaks" in str(path) and n == 30:
                raise prep.VideoError("corrupt video data late in the file")
            yield frame

    monkeypatch.setattr(extract, "iter_video", breaks_late)
    settings = PreprocessSettings(crop="none", size=16, clip_len=4, max_clip_frames=5)  # clips are written early
    result = preprocess(tmp_path / "src", tmp_path / "dst", settings, progress=False)
    assert _skipped(result.manifest) == {"breaks.mp4": "corrupt video data late in the file"}
    names = sorted(p.name for p in (tmp_path / "dst" / "clips").iterdir())
    assert names and all(name.startswith("fine.mp4-") for name in names)
