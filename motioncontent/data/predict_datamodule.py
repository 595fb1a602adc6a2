"""PredictDataModule: what `motioncontent predict` runs on, as a stream of windows (one batch = one window).

A run has one `mode` and one or more jobs (a job is one output video):
- reconstruct: `source` through its own content and motion;
- transfer: content of `source` (a video, a frame folder or a single image), motion of `driving` (any length);
- generate: content of `source`, motion sampled from the prior (`frames` long, default 64); `driving`, when given,
  is a prompt of real motion (its first frames) that the prior continues.

Inputs are raw files, read by data/video_frames.py (decoded, resampled to the model's fps, cropped by `crop`), or
items of a DataModule's test split written `test:<index>` (with `dataset` set to that DataModule, e.g. the
TalkingHeadDataModule of the training config). Each batch is a dict: job, name, mode, window index, whether it is
the job's last window, the window's driving frames (uint8 (T_w, H, W, 3); generate: none, only `frames`), and on
a job's first window its content clip (the first `content_frames` frames of the source). Only one window of frames
is ever held, so memory does not grow with the driving video's length.

The model's frame size and fps (and, with a prior, its window and content reading) come from the predictor module
at setup; `window` and `content_frames` override them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset

from motioncontent.data.transforms import signed_to_uint8
from motioncontent.data.video_frames import Crop, FrameSource, content_clip
from motioncontent.errors import DataError, MotionContentError

Mode = Literal["reconstruct", "transfer", "generate"]
DATASET_PREFIX = "test:"


@dataclass
class PredictJob:
    """One output video. source: content (and, for reconstruct, motion); driving: motion (transfer) or a prompt
    (generate); name: output file stem (default from the inputs); frames: generate length, else a cap."""

    source: str
    driving: str | None = None
    name: str | None = None
    frames: int | None = None


@dataclass
class _Input:
    """A resolved input: a factory of its frame stream (uint8 (H, W, 3)) and its length when known."""

    label: str
    frames: Callable[[], Iterator[np.ndarray]]
    length: int | None


class PredictWindows(IterableDataset):
    def __init__(self, module: PredictDataModule):
        self.m = module

    def __iter__(self) -> Iterator[dict[str, Any]]:
        m = self.m
        for k, job in enumerate(m.jobs):
            source = m.resolve(job.source)
            driving = m.resolve(job.driving) if job.driving else None
            content = _content(source, m.content_frames)
            base = {"job": k, "name": m.job_name(job), "mode": m.mode}
            if m.mode == "generate":
                total = job.frames or m.generate_frames
                prompt = _head(driving, m.prompt_frames) if driving else None
                windows: Iterator[dict[str, Any]] = (
                    {"frames": min(m.window, total - s)} for s in range(0, total, m.window))
                first_extra = {"prompt": prompt} if prompt is not None else {}
            else:
                motion = driving if m.mode == "transfer" else source
                stream = motion.frames()
                if job.frames:
                    stream = itertools.islice(stream, job.frames)
                total = min(job.frames, motion.length) if job.frames and motion.length else job.frames or motion.length
                windows = ({"driving": w} for w in _windows(stream, m.window))
                first_extra = {}
            yield from _mark_last(base, windows, content, first_extra, total)


def _head(source: _Input, count: int) -> np.ndarray:
    """The first `count` frames of an input (all of a shorter one), closing its decoder afterwards."""
    frames = source.frames()
    try:
        return np.stack(list(itertools.islice(frames, count)))
    finally:
        getattr(frames, "close", lambda: None)()


def _content(source: _Input, count: int) -> np.ndarray:
    """The frames content is read from: the first `count`, a shorter input (an image) repeated to `count`."""
    return content_clip(list(_head(source, count)), count)


def _windows(frames: Iterator[np.ndarray], window: int) -> Iterator[np.ndarray]:
    while chunk := list(itertools.islice(frames, window)):
        yield np.stack(chunk)


def _mark_last(base: dict[str, Any], windows: Iterator[dict[str, Any]], content: np.ndarray,
               first_extra: dict[str, Any], total: int | None) -> Iterator[dict[str, Any]]:
    """Each window with its index and a `last` flag (one window of look-ahead); content on the first."""
    current = next(windows, None)
    if current is None:
        raise DataError(f"{base['name']}: the input has no frames")
    index = 0
    while current is not None:
        following = next(windows, None)
        item = {**base, **current, "window": index, "last": following is None, "total": total or -1}
        if index == 0:
            item.update(content=content, **first_extra)
        yield item
        current, index = following, index + 1


def _build_datamodule(spec: str | dict[str, Any]) -> LightningDataModule:
    import importlib

    class_path, init_args = (spec, {}) if isinstance(spec, str) else (spec.get("class_path", ""),
                                                                       dict(spec.get("init_args") or {}))
    module_name, _, name = str(class_path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise MotionContentError(f"data.dataset: no DataModule class {class_path!r}") from None
    return cls(**init_args)


class PredictDataModule(LightningDataModule):
    """Args:
        mode: reconstruct, transfer or generate (see the module docstring).
        source, driving, name, frames: a single job, the usual command-line case; `jobs`: a list of them (YAML).
        crop: how raw videos are cropped: `none` (centre square) or `detect` (mediapipe face boxes).
        dataset: the DataModule whose test split `test:<i>` inputs refer to: its class path, or {class_path,
            init_args}. Built here at setup rather than by the CLI, which would hand it this module's arguments as
            its hyperparameters (LightningCLI's instantiator applies the top-level `data` arguments to every
            DataModule it builds, nested ones included).
        window: frames per motion window; content_frames: frames content is read from (defaults: the predictor's).
        generate_frames: default length of generated videos; prompt_frames: frames of a generate prompt read.
        frames_fps: frame rate of folders of frame images.
    """

    def __init__(self, mode: Mode = "transfer", source: str | None = None, driving: str | None = None,
                 name: str | None = None, frames: int | None = None, jobs: list[PredictJob] | None = None,
                 crop: Crop = "none", dataset: dict[str, Any] | str | None = None, window: int | None = None,
                 content_frames: int | None = None, generate_frames: int = 64, prompt_frames: int = 16,
                 frames_fps: float = 25.0):
        super().__init__()
        if mode not in ("reconstruct", "transfer", "generate"):
            raise MotionContentError(f"unknown predict mode '{mode}'; choose reconstruct, transfer or generate")
        self.mode, self.crop, self.dataset_spec = mode, crop, dataset
        self.dataset: LightningDataModule | None = None
        self.jobs = list(jobs or []) + ([PredictJob(source, driving, name, frames)] if source else [])
        self._window, self._content_frames = window, content_frames
        self.generate_frames, self.prompt_frames, self.frames_fps = generate_frames, prompt_frames, frames_fps
        self.size, self.fps = 64, 25.0
        self.window, self.content_frames = window or 16, content_frames or 8
        # Input files are checked already here, when the CLI builds this module: a missing file or one without a
        # video stream then ends the command with one line before the Trainer starts printing its own.
        for job in self.jobs:
            for ref in (job.source, job.driving):
                if ref and not ref.startswith(DATASET_PREFIX):
                    self._source(ref).check()

    def setup(self, stage: str | None = None) -> None:
        model = getattr(getattr(self, "trainer", None), "lightning_module", None)
        if model is not None:  # the predictor knows the frame size, fps and how its prior reads clips
            self.size, self.fps = model.image_size, model.fps
            self.window = self._window or model.window
            self.content_frames = self._content_frames or model.content_frames
        if not self.jobs:
            raise MotionContentError("nothing to predict: give data.source (and data.driving), or data.jobs")
        if self.dataset_spec and self.dataset is None:
            self.dataset = _build_datamodule(self.dataset_spec)
        if self.dataset is not None:
            self.dataset.prepare_data()
            self.dataset.setup("test")
        for job in self.jobs:
            if self.mode == "transfer" and not job.driving:
                raise MotionContentError(f"transfer needs a driving video for source {job.source} (data.driving)")
            for ref in (job.source, job.driving):
                if ref and not ref.startswith(DATASET_PREFIX):
                    self._source(ref).check()
                elif ref:
                    self._dataset_item(ref)

    def _source(self, ref: str) -> FrameSource:
        return FrameSource(Path(ref).expanduser(), self.size, self.fps, self.crop, self.frames_fps)

    def _dataset_item(self, ref: str) -> np.ndarray:
        if self.dataset is None or not hasattr(self.dataset, "test_set"):
            raise MotionContentError(f"input {ref} refers to a dataset item, but data.dataset is not set")
        try:
            index = int(ref[len(DATASET_PREFIX):])
            video, _ = self.dataset.test_set[index]
        except (ValueError, IndexError):
            raise MotionContentError(f"no test item {ref[len(DATASET_PREFIX):]} (the test split has "
                                     f"{len(self.dataset.test_set)} items)") from None
        frames = signed_to_uint8(video).permute(0, 2, 3, 1).numpy()  # (T, H, W, 3)
        if frames.shape[1] != self.size:
            raise MotionContentError(f"dataset items are {frames.shape[1]} px, the model {self.size} px")
        return frames

    def resolve(self, ref: str) -> _Input:
        if ref.startswith(DATASET_PREFIX):
            frames = self._dataset_item(ref)
            return _Input(ref, lambda: iter(list(frames)), len(frames))
        source = self._source(ref)
        return _Input(ref, source.frames, source.estimated_frames())

    def job_name(self, job: PredictJob) -> str:
        if job.name:
            return job.name
        stem = lambda ref: ref.replace(":", "") if ref.startswith(DATASET_PREFIX) else Path(ref).stem  # noqa: E731
        name = f"{self.mode}_{stem(job.source)}"
        return name + (f"_{stem(job.driving)}" if job.driving else "")

    def predict_dataloader(self) -> DataLoader:
        # batch_size=None: no collation; each item already is one window, numpy arrays become tensors.
        return DataLoader(PredictWindows(self), batch_size=None, num_workers=0)


__all__ = ["PredictDataModule", "PredictJob", "PredictWindows"]
