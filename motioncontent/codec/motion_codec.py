"""Video -> motion bitstream -> video with a trained BCD model (systems/inference.py reads and decodes windows).

encode: content from the first `content_frames` frames (fp16 in the file), motion codes window by window, then
the codes are range-coded (codec/entropy.py). decode: the codes are decoded, checked against their CRC, and the
video is sampled window by window and streamed to an mp4, so neither side holds more than one window of frames.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motioncontent.codec.bitstream import (NO_MODEL, BitstreamError, MotionBitstream, codes_crc, read_bitstream,
                                           write_atomic)
from motioncontent.codec.entropy import (EntropyModel, adaptive_model, decode_codes, decode_with_prior, encode_codes,
                                         encode_with_prior, static_model)
from motioncontent.data.video_frames import FrameSource, content_clip
from motioncontent.data.video_io import VideoStreamWriter
from motioncontent.errors import MotionContentError
from motioncontent.models.rate import code_bits_per_frame
from motioncontent.systems.inference import decode_window, encode_content, encode_motion, model_id, windows_of


@dataclass
class CodecReport:
    frames: int
    fps: float
    file_bytes: int
    content_bytes: int
    motion_bytes: int
    entropy_model: str
    empirical_bits_per_frame: float  # order-0 entropy of this video's codes (what ideal static tables would spend)
    capacity_bits_per_frame: float
    seconds: float

    @property
    def motion_bits_per_frame(self) -> float:
        return 8 * self.motion_bytes / max(1, self.frames)

    def kbps(self, fps: float = 25.0) -> float:
        return self.motion_bits_per_frame * fps / 1000

    def summary(self) -> str:
        return (f"{self.frames} frames: {self.file_bytes} bytes ({self.content_bytes} content, {self.motion_bytes} "
                f"motion, {self.entropy_model} entropy model); motion {self.motion_bits_per_frame:.2f} bits/frame = "
                f"{self.kbps(25.0):.3f} kbps at 25 fps (empirical entropy {self.empirical_bits_per_frame:.2f}, "
                f"capacity {self.capacity_bits_per_frame:g} bits/frame); {self.seconds:.1f} s")


def _entropy_model(name: str, prior: torch.nn.Module | None) -> EntropyModel:
    model = EntropyModel[name.upper()]
    if model != EntropyModel.ADAPTIVE and prior is None:
        raise MotionContentError(f"the {name} entropy model needs a motion prior checkpoint (--prior)")
    return model


def encode_video(bcd: torch.nn.Module, source: FrameSource, out: str | Path, entropy: str = "adaptive",
                 prior: torch.nn.Module | None = None, window: int = 16, content_frames: int = 8,
                 max_frames: int | None = None) -> CodecReport:
    started = time.perf_counter()
    kind = _entropy_model(entropy, prior)
    content = encode_content(bcd, _content_clip(source, content_frames))
    frames = source.frames()
    if max_frames:
        frames = itertools.islice(frames, max_frames)
    codes = torch.cat(list(encode_motion(bcd, windows_of(frames, window)))).numpy()  # (T, N): a few bytes a frame
    E = int(bcd.quantizer.codebook_size)
    # The file carries content in fp16, so code with the content the decoder will see.
    content16 = content[0].cpu().to(torch.float16)
    if kind == EntropyModel.PRIOR:
        payload = encode_with_prior(codes, prior.prior, content16.float().unsqueeze(0).to(prior.device))
    else:
        model = adaptive_model(codes.shape[1], E) if kind == EntropyModel.ADAPTIVE else static_model(
            prior.static_tables().numpy())
        payload = encode_codes(codes, model)
    stream = MotionBitstream(int(kind), int(bcd.hparams.image_size), codes.shape[1], E, window,
                             float(bcd.hparams.fps), model_id(bcd), model_id(prior) if prior is not None else NO_MODEL,
                             content16.numpy(), codes_crc(codes), codes.shape[0], payload)
    data = stream.to_bytes()
    write_atomic(out, data)
    return CodecReport(codes.shape[0], float(bcd.hparams.fps), len(data), content16.numel() * 2, len(payload),
                       kind.name.lower(), float(code_bits_per_frame(torch.as_tensor(codes), E, sync=False)),
                       float(bcd.quantizer.capacity_bits), time.perf_counter() - started)


def _content_clip(source: FrameSource, count: int) -> np.ndarray:
    frames = source.frames()
    try:
        return content_clip(list(itertools.islice(frames, count)), count)
    finally:
        frames.close()


def decode_codes_of(stream: MotionBitstream, bcd: torch.nn.Module, prior: torch.nn.Module | None,
                    name: str = "the file") -> np.ndarray:
    """The motion codes (T, N) of a bitstream, checked against the model ids and the codes' CRC."""
    if stream.bcd_id != model_id(bcd):
        raise BitstreamError(f"{name} was encoded with BCD model {stream.bcd_id}; the given checkpoint is "
                             f"{model_id(bcd)}")
    if (stream.num_groups, stream.codebook_size) != (bcd.num_groups, int(bcd.quantizer.codebook_size)):
        raise BitstreamError(f"{name} holds {stream.num_groups} x {stream.codebook_size} codes; the model has "
                             f"{bcd.num_groups} x {int(bcd.quantizer.codebook_size)}")
    kind = EntropyModel(stream.entropy_model) if stream.entropy_model in {m.value for m in EntropyModel} else None
    if kind is None:
        raise BitstreamError(f"{name} uses an unknown entropy model ({stream.entropy_model})")
    if kind != EntropyModel.ADAPTIVE:
        if prior is None:
            raise BitstreamError(f"{name} was coded with a motion prior ({stream.prior_id}); pass it with --prior")
        if stream.prior_id != model_id(prior):
            raise BitstreamError(f"{name} was coded with prior {stream.prior_id}; the given prior is {model_id(prior)}")
    content = torch.from_numpy(stream.content.astype(np.float32)).unsqueeze(0)
    try:
        if kind == EntropyModel.PRIOR:
            codes = decode_with_prior(stream.payload, stream.frames, prior.prior, content.to(prior.device))
        else:
            model = adaptive_model(stream.num_groups, stream.codebook_size) if kind == EntropyModel.ADAPTIVE else \
                static_model(prior.static_tables().numpy())
            codes = decode_codes(stream.payload, stream.frames, stream.num_groups, model)
    except (ValueError, AssertionError, RuntimeError) as error:
        raise BitstreamError(f"{name}: the motion payload does not decode ({error})") from None
    if codes_crc(codes) != stream.codes_crc:
        raise BitstreamError(f"{name}: the decoded motion codes fail their checksum (a damaged file, or a prior "
                             f"that computes other probabilities on this machine)")
    return codes


def decode_file(bcd: torch.nn.Module, path: str | Path, out: str | Path, prior: torch.nn.Module | None = None,
                steps: int | None = None, seed: int = 0, progress: bool = True) -> tuple[int, float]:
    """Bitstream -> mp4 at the model's fps; returns (frames, seconds)."""
    from tqdm import tqdm

    started = time.perf_counter()
    stream = read_bitstream(path)
    codes = torch.from_numpy(decode_codes_of(stream, bcd, prior, str(path)))
    content = torch.from_numpy(stream.content.astype(np.float32)).unsqueeze(0).to(bcd.device)
    writer = VideoStreamWriter(out, stream.fps)
    try:
        with tqdm(total=stream.frames, desc=Path(out).name, unit="frame", disable=not progress) as bar:
            for index, start in enumerate(range(0, stream.frames, stream.window)):
                window = codes[start : start + stream.window]
                writer.write(decode_window(bcd, content, window, index, steps=steps, seed=seed))
                bar.update(len(window))
        writer.close()
    except OSError as error:
        writer.abort()
        raise MotionContentError(f"cannot write {out}: {error.strerror or error}") from None
    except BaseException:
        writer.abort()
        raise
    return stream.frames, time.perf_counter() - started


__all__ = ["CodecReport", "decode_codes_of", "decode_file", "encode_video"]
