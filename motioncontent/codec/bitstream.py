"""The motion bitstream file (`.mcb`): content once, then a few bits per frame of entropy-coded motion codes.

Layout (little-endian; struct formats in brackets):

    magic       4 bytes  b"MCB1"
    header      [<BBHHHHHHIf16s16s]  version, entropy model (codec/entropy.py), image size, num_groups N,
                codebook size E, content tokens K, content dim C_c, window, frames T, fps,
                BCD model id, prior model id (16 ASCII hex digits each; zeros when no prior is used)
    codes_crc   [<I]     CRC32 of the decoded codes (int16, T x N): checked after decoding
    content     K x C_c float16
    motion_len  [<I]     bytes of the motion payload, then the payload (range coder words)
    file_crc    [<I]     CRC32 of everything before it

A truncated or altered file fails the file CRC (or a length check) before anything is decoded; a payload that decodes
to other codes (e.g. a prior that rounds differently on another machine) fails the codes CRC. Both raise
BitstreamError with one line. CRC32 (zlib) detects accidents, not tampering by someone who recomputes it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motioncontent.errors import MotionContentError

MAGIC = b"MCB1"
VERSION = 1
_HEADER = struct.Struct("<BBHHHHHHIf16s16s")
_U32 = struct.Struct("<I")
NO_MODEL = "0" * 16


class BitstreamError(MotionContentError):
    """A file that is not a motion bitstream, or a damaged one."""


@dataclass
class MotionBitstream:
    entropy_model: int
    image_size: int
    num_groups: int
    codebook_size: int
    window: int
    fps: float
    bcd_id: str
    prior_id: str
    content: np.ndarray  # (K, C_c) float16
    codes_crc: int
    frames: int
    payload: bytes  # the entropy-coded codes

    @property
    def motion_bits(self) -> int:
        return 8 * len(self.payload)

    def to_bytes(self) -> bytes:
        K, C = self.content.shape
        header = _HEADER.pack(VERSION, self.entropy_model, self.image_size, self.num_groups, self.codebook_size, K, C,
                              self.window, self.frames, self.fps, self.bcd_id.encode("ascii"),
                              self.prior_id.encode("ascii"))
        body = (MAGIC + header + _U32.pack(self.codes_crc) + self.content.astype("<f2").tobytes()
                + _U32.pack(len(self.payload)) + self.payload)
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "the file") -> MotionBitstream:
        if data[:4] != MAGIC:
            raise BitstreamError(f"{name} is not a motion bitstream (no {MAGIC.decode()} magic)")
        fixed = 4 + _HEADER.size + _U32.size
        if len(data) < fixed + 2 * _U32.size:
            raise BitstreamError(f"{name} is truncated ({len(data)} bytes, the header alone needs {fixed})")
        if zlib.crc32(data[:-4]) != _U32.unpack(data[-4:])[0]:
            raise BitstreamError(f"{name} is damaged or truncated: checksum mismatch ({len(data)} bytes)")
        (version, entropy_model, size, N, E, K, C, window, frames, fps, bcd_id, prior_id) = _HEADER.unpack_from(data, 4)
        if version != VERSION:
            raise BitstreamError(f"{name} is bitstream version {version}; this build reads version {VERSION}")
        codes_crc = _U32.unpack_from(data, 4 + _HEADER.size)[0]
        content_end = fixed + 2 * K * C
        if len(data) < content_end + 2 * _U32.size:
            raise BitstreamError(f"{name} is inconsistent: its header promises more content than it holds")
        content = np.frombuffer(data[fixed:content_end], dtype="<f2").reshape(K, C).copy()
        length = _U32.unpack_from(data, content_end)[0]
        if content_end + _U32.size + length + _U32.size != len(data):
            raise BitstreamError(f"{name} is inconsistent: motion payload of {length} bytes in a {len(data)}-byte file")
        payload = data[content_end + _U32.size : content_end + _U32.size + length]
        return cls(entropy_model, size, N, E, window, fps, bcd_id.decode("ascii"), prior_id.decode("ascii"), content,
                   codes_crc, frames, payload)


def codes_crc(codes: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(codes, dtype="<i2").tobytes())


def read_bitstream(path: str | Path) -> MotionBitstream:
    path = Path(path)
    if not path.is_file():
        raise BitstreamError(f"no such file: {path}")
    return MotionBitstream.from_bytes(path.read_bytes(), name=str(path))


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write under a temporary name in the same folder, then rename (readers never see half a file)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as error:
        raise MotionContentError(f"cannot write {path}: {error.strerror or error}") from None


__all__ = ["BitstreamError", "MotionBitstream", "NO_MODEL", "codes_crc", "read_bitstream", "write_atomic"]
