"""Random draws for the rows of a batch that do not depend on how the global batch is split over DDP ranks.

Training draws noise per clip (EDM's sigma and noise, the Gumbel noise of the quantizer, the encoder-pass views).
With one RNG stream per process, 2 ranks x B clips draw different numbers than 1 rank x 2B clips, so the two runs
differ by sampling noise and no test can tell a DDP bug from chance. Here every rank draws the numbers of the whole
global batch from the same stream (all ranks are seeded alike by `seed_everything`) and keeps its own rows.
Rows are interleaved (rank r keeps rows r, r + W, ...) because that is how `EpochSampler` deals clips to ranks:
global clip k of a step sits on rank k % W. The price is W times more random numbers, negligible next to the model.

Outside `split_batch` (a single process, tests, inference) a draw is exactly `torch.rand/randn(shape)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch

# (rank, world_size, rows): set while a training or validation step runs; rows is the global batch size to draw
# (None: world_size x the local batch, right whenever every rank holds a full batch).
_layout: tuple[int, int, int | None] | None = None


@contextmanager
def split_batch(rank: int, world_size: int, rows: int | None = None) -> Iterator[None]:
    """Within the block, batch_random draws for the global batch and returns this rank's rows."""
    global _layout
    previous, _layout = _layout, (rank, world_size, rows)
    try:
        yield
    finally:
        _layout = previous


def batch_random(kind: Literal["rand", "randn", "exponential"], shape: Sequence[int],
                 device: torch.device | str | None = None, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A tensor of `shape` (shape[0] = the local batch) of U[0, 1), N(0, 1) or Exp(1) numbers, this rank's rows of
    the global batch's draw under `split_batch`."""
    shape = tuple(int(s) for s in shape)
    rank, world, rows = _layout or (0, 1, None)
    total = rows if rows is not None else world * shape[0]
    if total < rank + world * (shape[0] - 1) + 1:  # the layout cannot hold this batch: draw it locally
        rank, world, total = 0, 1, shape[0]
    full_shape = (total, *shape[1:])
    if kind == "rand":
        full = torch.rand(full_shape, generator=generator, device=device, dtype=dtype)
    elif kind == "randn":
        full = torch.randn(full_shape, generator=generator, device=device, dtype=dtype)
    elif kind == "exponential":
        full = torch.empty(full_shape, device=device, dtype=dtype).exponential_(generator=generator)
    else:
        raise ValueError(f"unknown kind {kind!r} (rand, randn, exponential)")
    if total == shape[0] and world == 1:
        return full
    return full[rank::world][: shape[0]]


__all__ = ["batch_random", "split_batch"]
