"""The per-validation paths keep nothing from one epoch to the next (README "Memory soak", in seconds instead of 20
minutes): the sample grid picks its sources without holding decoded clips, and N short epochs of a tiny model with
validation, the sample grid, the codebook heatmap and the bitrate end with as many live tensors and Python objects
as the second one did."""

from __future__ import annotations

import gc
import sys
import tracemalloc
import weakref

import lightning
import numpy as np
import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, Dataset

from motioncontent.callbacks import Bitrate, CodebookUsage, ReleaseFreedMemory, SampleGrid, release_memory
from motioncontent.callbacks.sample_grid import pick_sources
from motioncontent.data.sprites import arrays
from motioncontent.data.sprites.factors import LABEL_NAMES
from motioncontent.data.sprites_datamodule import SpritesDataset
from tiny_models import TINY_BCD


class LabelledClips(Dataset):
    """Clips (T, 3, S, S) in [-1, 1] of 3 characters x 3 motions; with track, it counts its decodes and the ones
    still alive (a weak reference per decode: not for the epoch test, where those would be new objects)."""

    def __init__(self, n: int = 18, frames: int = 4, size: int = 32, track: bool = False):
        self.video = torch.rand(n, frames, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        self.track, self.decoded, self.most_alive = track, [], 0

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, i: int):
        clip = self.video[i].clone()  # a fresh tensor per decode, as a real dataset makes
        if self.track:
            self.most_alive = max(self.most_alive, sum(ref() is not None for ref in self.decoded))
            self.decoded.append(weakref.ref(clip))
        return clip, {"character": i // 3 % 3, "motion": i % 3}


class UndecodedSprites(SpritesDataset):
    def __getitem__(self, i: int):
        raise AssertionError("pick_sources decoded a clip to read its labels")


def test_sample_sources_of_a_sprites_split_are_picked_from_labels_alone(tmp_path):
    n = 90  # 10 characters x 9 motions
    np.save(arrays.video_file(tmp_path, "test"), np.zeros((n, 8, 64, 64, 3), np.uint8))
    labels = {name: np.zeros(n, np.int64) for name in LABEL_NAMES}
    labels["character"], labels["motion"] = np.arange(n) // 9, np.arange(n) % 9
    np.savez(arrays.labels_file(tmp_path, "test"), **labels)
    items = [(None, {"character": int(c), "motion": int(m)}) for c, m in zip(labels["character"], labels["motion"])]
    # The same choice as from the items themselves, without decoding any clip.
    assert pick_sources(UndecodedSprites(tmp_path, "test"), 5, 5) == pick_sources(items, 5, 5)


def test_sample_sources_hold_one_decoded_clip_at_a_time():
    dataset = LabelledClips(track=True)
    content, motion = pick_sources(dataset, 2, 2)
    assert len(content) == 2 and len(motion) == 2
    assert len(dataset.decoded) == len(dataset)  # every item was read for its labels ...
    assert dataset.most_alive == 0  # ... and each was released before the next one was decoded
    gc.collect()
    assert all(ref() is None for ref in dataset.decoded)  # and none is kept afterwards


class Clips(LightningDataModule):
    def __init__(self):
        super().__init__()
        self.train_set, self.val_set = LabelledClips(8), LabelledClips(18)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=4)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=6)


class LiveObjects(Callback):
    """At every epoch end (after its validation and the callbacks that render): live tensors, gc-tracked objects and,
    from the end of epoch `trace_from` on, the Python memory (numpy arrays and bytes included) allocated since then
    and still alive (tracemalloc; torch's own storages are not traced, hence the tensor count)."""

    def __init__(self, trace_from: int = 2):
        self.trace_from, self.started = trace_from, False
        self.counts: list[tuple[int, int]] = []
        self.traced: list[int] = []

    def on_train_epoch_end(self, trainer, pl_module):
        gc.collect()
        objects = gc.get_objects()
        tensors = sum(1 for o in objects if isinstance(o, torch.Tensor))
        self.counts.append((tensors, len(objects)))
        del objects
        if len(self.counts) > self.trace_from:
            self.traced.append(tracemalloc.get_traced_memory()[0])
        elif len(self.counts) == self.trace_from and not tracemalloc.is_tracing():
            tracemalloc.start()
            self.started = True

    def stop(self):
        if self.started:
            tracemalloc.stop()


def test_epochs_with_validation_grids_and_heatmaps_keep_no_objects(tmp_path):
    from motioncontent.systems import BCDModule

    torch.manual_seed(0)
    model = BCDModule(**{**TINY_BCD, "ema_decay": 0.99, "warmup_steps": 1})
    probe = LiveObjects()
    epochs = 8
    trainer = lightning.Trainer(
        max_epochs=epochs, accelerator="cpu", limit_train_batches=1, limit_val_batches=2, num_sanity_val_steps=0,
        logger=TensorBoardLogger(tmp_path, name="retention"), enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, log_every_n_steps=1,
        callbacks=[Bitrate(), CodebookUsage(), SampleGrid(num_content=2, num_motion=2, steps=2), probe])
    try:
        trainer.fit(model, Clips())
    finally:
        probe.stop()
    samples = tmp_path / "retention" / "version_0" / "samples"
    assert len(list(samples.glob("swap_grid_epoch*.gif"))) == epochs  # every epoch rendered its grid
    tensors, objects = zip(*probe.counts)
    # The second epoch is the baseline: the first one still creates optimizer state, loggers and caches.
    assert tensors[-1] <= tensors[1], f"live tensors per epoch: {tensors}"
    assert objects[-1] - objects[1] < 10 * (epochs - 2), f"live Python objects per epoch: {objects}"
    # Python memory allocated after epoch 2 and still alive: the first traced epoch may still fill caches; after it,
    # a kept image, GIF or array per epoch would add kilobytes each time.
    growth = probe.traced[-1] - probe.traced[0]
    assert growth < 16 * 1024 * (epochs - 3), f"Python memory kept since epoch 2, per epoch (bytes): {probe.traced}"


def _anonymous_rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise OSError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(release_memory._MALLOC_TRIM is None or not sys.platform.startswith("linux"),
                    reason="malloc_trim is glibc's")
def test_release_freed_memory_hands_freed_heap_holes_back():
    # 160 MiB of 4 KiB heap blocks (below the mmap threshold, so they live in the arena); one block in 32 is kept,
    # so the freed memory is holes between live blocks that free() itself never returns.
    blocks = [bytes(4096 - 64) for _ in range(40_000)]
    kept = blocks[::32]
    del blocks
    before = _anonymous_rss_mib()
    assert release_memory.release_freed_memory()
    after = _anonymous_rss_mib()
    assert before - after > 100, (before, after)
    assert len(kept) == 1250


def test_release_freed_memory_callback_runs_at_epoch_and_validation_ends(monkeypatch):
    calls = []
    monkeypatch.setattr(release_memory, "release_freed_memory", lambda: calls.append(1) or True)
    callback = ReleaseFreedMemory()
    callback.on_train_epoch_end(None, None)
    callback.on_validation_end(None, None)
    assert len(calls) == 2
