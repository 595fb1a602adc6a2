"""Data order that a killed run can resume exactly, and DDP sharding without duplicated clips.

Lightning 2.x restores the loop counters of a mid-epoch checkpoint but restarts the DataLoader at the beginning of
the epoch, and does not store the RNG states. It does save and restore the `state_dict()` of a DataLoader that has
one, right before it creates the loader's iterator on resume (FitLoop.setup_data): `ResumableLoader` uses that hook.

- `EpochSampler`: the order of an epoch is a function of (seed, epoch) only, each rank keeps every W-th clip of it
  (so the global batch of a step is the same set of clips whatever W is), and `skip` drops the clips already
  trained on when an epoch is resumed. For evaluation it does not shuffle and does not pad: torch's
  DistributedSampler repeats clips to even out the ranks, which would count them twice in split-level metrics.
- `ResumableLoader`: its state is (epoch, batches trained in it, the RNG states of every rank); loading it
  positions the sampler and restores the RNGs, so the next step draws the same noise as the uninterrupted run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset, DistributedSampler


class EpochSampler(DistributedSampler):
    """This rank's indices of one epoch. Subclasses DistributedSampler only so that Lightning keeps it under DDP
    (Lightning swaps every other sampler for its own DistributedSampler, which would shard it a second time).

    Args:
        dataset: the dataset (only its length is used).
        num_replicas, rank: the DDP world size and this process's rank (1 and 0 for one process).
        shuffle: a permutation seeded by seed + epoch (training), or the dataset order (evaluation).
        seed: the order's seed; the same on every rank.
        drop_last: drop the tail that does not divide among the ranks (training: every rank then steps the same
            number of times); without it (evaluation) the first ranks hold one clip more, none is repeated.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.skip = 0  # clips of the next epoch's iteration already trained on (set on resume, used once)

    def _indices(self) -> list[int]:
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        else:
            order = list(range(n))
        if self.drop_last:
            order = order[: n - n % self.num_replicas]
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        indices, skip = self._indices(), self.skip
        self.skip = 0
        return iter(indices[skip:])

    def __len__(self) -> int:
        # The whole epoch, also when resuming: Lightning counts the resumed epoch's batches from its own progress.
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.drop_last:
            return n // self.num_replicas
        return math.ceil(max(0, n - self.rank) / self.num_replicas)


def rng_states() -> dict[str, Any]:
    """The process's torch, CUDA, numpy and python RNG states (Lightning does not checkpoint them), as tensors and
    plain Python values: `torch.load(weights_only=True)`, Lightning's default, refuses numpy arrays."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {"torch": torch.get_rng_state(),
                              "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                                        float(cached)),
                              "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ResumableLoader(DataLoader):
    """A training DataLoader over an EpochSampler whose position and RNG states go into Lightning checkpoints.

    Args:
        dataset, batch_size, drop_last, num_workers, pin_memory: as for DataLoader.
        sampler: the EpochSampler (required: the order must be a function of seed and epoch).
        progress: returns (epoch, batches of it already trained on); read from the trainer, because the loader
            itself runs ahead of training (Lightning prefetches a batch, workers several).
    """

    def __init__(self, dataset: Dataset, *, batch_size: int, sampler: EpochSampler,
                 progress: Callable[[], tuple[int, int]], drop_last: bool = True, **kwargs: Any):
        # Its own generator: the DataLoader otherwise draws each iterator's worker seed from the global torch RNG,
        # so creating an iterator at a resume (where the uninterrupted run created none) would shift every later
        # random draw.
        kwargs.setdefault("generator", torch.Generator().manual_seed(sampler.seed))
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, Any]:
        epoch, batches = self.progress()
        rank, world = _world()
        states: list[Any] = [rng_states()]
        if world > 1:  # Lightning writes rank 0's checkpoint only: it carries every rank's RNG states
            states = [None] * world
            dist.all_gather_object(states, rng_states())
        return {"epoch": epoch, "batches": batches, "rng": states}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sampler: EpochSampler = self.sampler  # type: ignore[assignment]
        epoch, batches = int(state["epoch"]), int(state["batches"])
        if batches >= len(self):  # saved at the end of an epoch: the next one starts from its beginning
            epoch, batches = epoch + 1, 0
        sampler.set_epoch(epoch)
        sampler.skip = batches * self.batch_size  # type: ignore[operator]
        rank, world = _world()
        states = state.get("rng") or []
        if len(states) == world:
            set_rng_states(states[rank])
        else:
            rank_zero_warn(f"The checkpoint holds the RNG states of {len(states)} process(es), this run has {world}: "
                           "data order is restored, random draws are not (the run continues, not bit-exactly).")


__all__ = ["EpochSampler", "ResumableLoader", "rng_states", "set_rng_states"]
