"""The motion bitstream: exact round trips of the codes with each entropy model, clear errors on truncated or altered
files, and `motioncontent codec encode/decode` end to end on a tiny checkpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
import torch

from conftest import REPO
from motioncontent.codec.bitstream import NO_MODEL, BitstreamError, MotionBitstream, codes_crc
from motioncontent.codec.entropy import (adaptive_model, decode_codes, decode_with_prior, encode_codes,
                                         encode_with_prior, static_model)
from motioncontent.models.prior import MotionPrior, PriorConfig
from talking_heads_media import make_video
from tiny_models import tiny_bcd, tiny_prior


def skewed_codes(frames: int = 200, groups: int = 4, entries: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(entries, size=(frames, groups), p=np.r_[0.7, np.full(entries - 1, 0.3 / (entries - 1))])


@pytest.mark.parametrize("kind", ["adaptive", "static"])
def test_table_models_round_trip_and_compress_skewed_codes(kind):
    codes = skewed_codes()
    table = np.tile(np.r_[7.0, np.full(15, 0.2)], (4, 1))  # roughly the distribution the codes are drawn from

    def make():
        return adaptive_model(4, 16) if kind == "adaptive" else static_model(table)

    payload = encode_codes(codes, make())
    assert np.array_equal(decode_codes(payload, len(codes), 4, make()), codes)
    assert 8 * len(payload) < 0.6 * codes.size * 4  # well under the 4 bits of a uniform code


def test_prior_model_round_trips():
    torch.manual_seed(0)
    prior = MotionPrior(PriorConfig(num_groups=3, codebook_size=8, content_tokens=2, content_dim=4, max_frames=8,
                                    dim=16, depth=1, heads=2)).eval()
    content, codes = torch.randn(1, 2, 4), skewed_codes(20, 3, 8)  # 20 frames: past the 8-frame context
    payload = encode_with_prior(codes, prior, content)
    assert np.array_equal(decode_with_prior(payload, 20, prior, content), codes)


def sample_stream() -> MotionBitstream:
    codes = skewed_codes(50, 2, 4)
    return MotionBitstream(0, 32, 2, 4, 16, 25.0, "0123456789abcdef", NO_MODEL,
                           np.arange(12, dtype=np.float16).reshape(2, 6), codes_crc(codes), 50,
                           encode_codes(codes, adaptive_model(2, 4)))


def test_bitstream_bytes_round_trip():
    stream = sample_stream()
    again = MotionBitstream.from_bytes(stream.to_bytes())
    assert again.payload == stream.payload and np.array_equal(again.content, stream.content)
    assert (again.frames, again.fps, again.bcd_id, again.codes_crc) == (50, 25.0, stream.bcd_id, stream.codes_crc)


def test_truncated_or_altered_files_are_refused():
    data = sample_stream().to_bytes()
    for cut in (0, 3, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError):
            MotionBitstream.from_bytes(data[:cut])
    for position in range(0, len(data), max(1, len(data) // 25)):
        altered = bytearray(data)
        altered[position] ^= 0x10
        with pytest.raises(BitstreamError):
            MotionBitstream.from_bytes(bytes(altered))


def run(*args, timeout=600):
    exe = shutil.which("motioncontent") or os.path.join(os.path.dirname(sys.executable), "motioncontent")
    return subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def test_codec_cli_round_trip_and_damaged_file(tmp_path):
    bcd = tiny_bcd(tmp_path / "bcd.ckpt")
    prior = tiny_prior(tmp_path / "prior.ckpt", bcd)
    video = make_video(tmp_path / "clip.mp4", frames=19, width=48, height=40)
    encoded = run("codec", "encode", str(video), str(tmp_path / "clip.mcb"), "--ckpt", str(bcd), "--prior", str(prior))
    assert encoded.returncode == 0, encoded.stderr
    assert "19 frames" in encoded.stdout and "kbps at 25 fps" in encoded.stdout
    decoded = run("codec", "decode", str(tmp_path / "clip.mcb"), str(tmp_path / "out.mp4"), "--ckpt", str(bcd),
                  "--prior", str(prior), "--progress", "false")
    assert decoded.returncode == 0, decoded.stderr
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 19 and frames[0].shape == (32, 32, 3)

    data = (tmp_path / "clip.mcb").read_bytes()
    (tmp_path / "cut.mcb").write_bytes(data[: len(data) - 7])
    failed = run("codec", "decode", str(tmp_path / "cut.mcb"), str(tmp_path / "cut.mp4"), "--ckpt", str(bcd))
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and len(lines) == 1 and "truncated" in lines[0], failed.stderr
    assert not (tmp_path / "cut.mp4").exists()
    other = tiny_bcd(tmp_path / "other.ckpt", seed=1)  # another model: the file says which one it needs
    failed = run("codec", "decode", str(tmp_path / "clip.mcb"), str(tmp_path / "x.mp4"), "--ckpt", str(other))
    assert failed.returncode == 2 and "encoded with BCD model" in failed.stderr.strip().splitlines()[-1]
