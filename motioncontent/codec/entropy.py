"""Entropy coding of motion codes (T, N) with a range coder from `constriction` (Bamler, https://bamler-lab.github.io/
constriction/; Rust with numpy bindings, needs no torch). Its range coder is exact and fast, and it takes a different
categorical distribution for every symbol, which the adaptive tables and the prior need.

Three probability models, one per `EntropyModel` value (what is spent on codes is printed by `codec encode`):
- ADAPTIVE: per-group frequency counts that start uniform and learn as the video is coded (Krichevsky-Trofimov,
  add 1/2). Needs nothing but the file; costs the order-0 entropy plus ~ (E - 1)/2 log2(T) bits per group to learn.
- STATIC: per-group tables measured on the training codes (stored in a motion-prior checkpoint): the order-0
  rate with no learning cost, when the video resembles the training data.
- PRIOR: the motion prior's probabilities, group by group, frame by frame (models/prior.py): it also uses the
  past frames and the content, so it can spend less than the order-0 entropy.

Encoder and decoder must compute bit-identical probabilities. The adaptive and static models are elementwise float64
arithmetic on integer counts (exactly reproducible). The prior runs the same sequential torch calls on both sides
(`_prior_frame`: one frame, one group at a time, never a batched pass), which reproduces on one machine and build;
a different machine may round differently, and then the codes' CRC in the file tells (never a silent wrong video).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np
import torch

# Probabilities are floored so no code is ever impossible (the range coder needs p > 0 for every symbol it meets).
_P_FLOOR = 1e-6


class EntropyModel(enum.IntEnum):
    ADAPTIVE = 0
    STATIC = 1
    PRIOR = 2


def _constriction():  # imported lazily: only the codec needs it
    import constriction

    return constriction


def _normalised(p: np.ndarray) -> np.ndarray:
    p = np.maximum(np.asarray(p, dtype=np.float64), _P_FLOOR)
    return (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)


# A FrameProbabilities callable gives the (N, E) probabilities of frame t's codes from the frames before it.
FrameProbabilities = Callable[[int, np.ndarray], np.ndarray]


def adaptive_model(num_groups: int, codebook_size: int) -> FrameProbabilities:
    """Counts of the codes of frames < t (+ 1/2 each); must be called for t = 0, 1, 2, ... in order."""
    counts = np.full((num_groups, codebook_size), 0.5)

    def probs(t: int, past: np.ndarray) -> np.ndarray:
        if t == 0:
            counts[:] = 0.5
        else:  # the previous call saw frame t - 1's predecessors; add frame t - 1 itself
            counts[np.arange(num_groups), past[t - 1]] += 1.0
        return _normalised(counts)

    return probs


def static_model(table: np.ndarray) -> FrameProbabilities:
    fixed = _normalised(table)
    return lambda t, past: fixed


def encode_codes(codes: np.ndarray, model: FrameProbabilities) -> bytes:
    """codes (T, N) int -> range-coded bytes, frame t coded with model(t, codes)."""
    c = _constriction()
    T = codes.shape[0]
    probs = np.concatenate([model(t, codes) for t in range(T)]) if T else np.zeros((0, 1), np.float32)
    encoder = c.stream.queue.RangeEncoder()
    if T:
        encoder.encode(codes.reshape(-1).astype(np.int32), c.stream.model.Categorical(perfect=False), probs)
    return encoder.get_compressed().tobytes()


def decode_codes(payload: bytes, frames: int, num_groups: int, model: FrameProbabilities) -> np.ndarray:
    """The inverse of encode_codes; raises ValueError on a payload that does not decode."""
    c = _constriction()
    if len(payload) % 4:
        raise ValueError("the motion payload is not a whole number of 32-bit words")
    decoder = c.stream.queue.RangeDecoder(np.frombuffer(payload, dtype=np.uint32).copy())
    family = c.stream.model.Categorical(perfect=False)
    codes = np.zeros((frames, num_groups), dtype=np.int64)
    for t in range(frames):
        codes[t] = decoder.decode(family, model(t, codes))
    return codes


def _prior_frame(prior: torch.nn.Module, content: torch.Tensor, past: torch.Tensor,
                 code_of_group: Callable[[int, np.ndarray], int]) -> list[int]:
    """One frame with the prior, group by group: code_of_group(i, probs (E,)) encodes or decodes group i and
    returns its code. Encoder and decoder both run exactly this, so their probabilities are the same numbers."""
    h = prior.frame_state(content, past)  # (1, D)
    prefix = torch.zeros_like(h)
    frame = []
    for i in range(prior.cfg.num_groups):
        probs = _normalised(prior.group_probs(h, prefix, i)[0].cpu().numpy())
        code = code_of_group(i, probs)
        frame.append(code)
        prefix = prefix + prior.head.code_emb[i, code].unsqueeze(0)
    return frame


@torch.no_grad()
def encode_with_prior(codes: np.ndarray, prior: torch.nn.Module, content: torch.Tensor) -> bytes:
    """Range-code codes (T, N) with the motion prior's probabilities (models/prior.MotionPrior)."""
    c = _constriction()
    encoder = c.stream.queue.RangeEncoder()
    family = c.stream.model.Categorical(perfect=False)
    past = torch.as_tensor(codes, dtype=torch.long, device=content.device).unsqueeze(0)  # (1, T, N)

    def encode(t: int) -> Callable[[int, np.ndarray], int]:
        def code_of_group(i: int, probs: np.ndarray) -> int:
            encoder.encode(np.array([codes[t, i]], np.int32), family, probs[None])
            return int(codes[t, i])
        return code_of_group

    for t in range(codes.shape[0]):
        _prior_frame(prior, content, past[:, :t], encode(t))
    return encoder.get_compressed().tobytes()


@torch.no_grad()
def decode_with_prior(payload: bytes, frames: int, prior: torch.nn.Module, content: torch.Tensor) -> np.ndarray:
    """The inverse of encode_with_prior."""
    c = _constriction()
    if len(payload) % 4:
        raise ValueError("the motion payload is not a whole number of 32-bit words")
    decoder = c.stream.queue.RangeDecoder(np.frombuffer(payload, dtype=np.uint32).copy())
    family = c.stream.model.Categorical(perfect=False)
    codes = torch.zeros(1, frames, prior.cfg.num_groups, dtype=torch.long, device=content.device)
    decode = lambda i, probs: int(decoder.decode(family, probs[None])[0])  # noqa: E731
    for t in range(frames):
        codes[0, t] = torch.tensor(_prior_frame(prior, content, codes[:, :t], decode))
    return codes[0].cpu().numpy()


__all__ = ["EntropyModel", "adaptive_model", "decode_codes", "decode_with_prior", "encode_codes",
           "encode_with_prior", "static_model"]
