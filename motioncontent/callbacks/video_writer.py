"""PredictionVideoWriter: writes what `motioncontent predict` makes, window by window, as the predictions arrive.

Per job: `<name>.mp4` (H.264 yuv420p through PyAV, data/video_io.VideoStreamWriter) and, with side_by_side,
`<name>_compare.mp4` with the panels source | driving | result (transfer), input | result (reconstruct) or
source | result (generate); the source panel cycles through the frames content was read from. Every file is written
under a temporary name and renamed when the job's last window is in. At the end, `predict_summary.json` holds the
run's figures: per job the frames, fps, wall time (input decoding included, model loading not) and frames/s.
A progress bar per video (tqdm), in frames.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from tqdm import tqdm

from motioncontent.callbacks.media import save_atomic
from motioncontent.data.video_io import VideoStreamWriter
from motioncontent.errors import check_writable_dir
from motioncontent.systems.inference import sampling_settings

SUMMARY_NAME = "predict_summary.json"


class PredictionVideoWriter(BasePredictionWriter):
    """Args: output_dir; side_by_side: also write the comparison video; crf: x264 quality (lower is better);
    progress: show a progress bar per video."""

    def __init__(self, output_dir: str = "outputs/predict", side_by_side: bool = True, crf: int = 18,
                 progress: bool = True):
        super().__init__(write_interval="batch")
        # Windows come from an IterableDataset, which has no dataset indices to report; names come with the batch.
        warnings.filterwarnings("ignore", message="Couldn't infer the batch indices")
        self.output_dir, self.side_by_side, self.crf, self.progress = Path(output_dir), side_by_side, crf, progress
        self._open: dict[int, dict[str, Any]] = {}
        self.jobs: list[dict[str, Any]] = []
        self._clock = time.perf_counter()

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        check_writable_dir(self.output_dir, "output folder")  # fail before any model work, not after it

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._clock = time.perf_counter()

    def _start(self, batch: dict[str, Any], fps: float) -> dict[str, Any]:
        name = str(batch["name"])
        total = int(batch["total"])
        job = {"name": name, "video": VideoStreamWriter(self.output_dir / f"{name}.mp4", fps, self.crf),
               "compare": VideoStreamWriter(self.output_dir / f"{name}_compare.mp4", fps, self.crf)
               if self.side_by_side else None,
               "content": batch["content"].cpu().numpy(), "mode": str(batch["mode"]), "frames": 0,
               "bar": tqdm(total=total if total > 0 else None, desc=name, unit="frame", disable=not self.progress,
                           leave=True)}
        self._open[int(batch["job"])] = job
        return job

    def write_on_batch_end(self, trainer: Trainer, pl_module: LightningModule, prediction: Any,
                           batch_indices: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        fps = float(getattr(pl_module, "fps", 25.0))
        key = int(batch["job"])
        job = self._open.get(key) or self._start(batch, fps)
        frames = np.asarray(prediction["frames"])  # (T_w, H, W, 3) uint8
        try:
            job["video"].write(frames)
            if job["compare"] is not None:
                job["compare"].write(self._panels(job, batch, frames))
        except Exception:
            self._abort(job)
            raise
        job["frames"] += len(frames)
        job["bar"].update(len(frames))
        if batch["last"]:
            self._finish(key, job, fps, pl_module)

    def _panels(self, job: dict[str, Any], batch: dict[str, Any], frames: np.ndarray) -> np.ndarray:
        content = job["content"]
        source = content[(job["frames"] + np.arange(len(frames))) % len(content)]
        panels = [source] if job["mode"] != "reconstruct" else []
        if "driving" in batch:
            panels.append(batch["driving"].cpu().numpy())
        panels.append(frames)
        return np.concatenate(panels, axis=2)  # side by side along the width

    def _finish(self, key: int, job: dict[str, Any], fps: float, pl_module: LightningModule) -> None:
        paths = [str(job["video"].close())]
        if job["compare"] is not None:
            paths.append(str(job["compare"].close()))
        job["bar"].close()
        now = time.perf_counter()
        seconds, self._clock = now - self._clock, now
        self.jobs.append({"name": job["name"], "mode": job["mode"], "frames": job["frames"], "fps": fps,
                          "wall_seconds": round(seconds, 3), "frames_per_second": round(job["frames"] / seconds, 3),
                          "files": paths})
        del self._open[key]

    def _abort(self, job: dict[str, Any]) -> None:
        job["video"].abort()
        if job["compare"] is not None:
            job["compare"].abort()
        job["bar"].close()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        for job in self._open.values():
            self._abort(job)
        self._open.clear()

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        hp = pl_module.hparams
        frames = sum(j["frames"] for j in self.jobs)
        seconds = sum(j["wall_seconds"] for j in self.jobs)
        bcd = getattr(pl_module, "bcd", None)
        summary = {
            "jobs": self.jobs, "frames": frames, "wall_seconds": round(seconds, 3),
            "frames_per_second": round(frames / seconds, 3) if seconds else None,
            "bcd_checkpoint": hp.get("bcd_checkpoint"), "prior_checkpoint": hp.get("prior_checkpoint"),
            **(sampling_settings(bcd, hp.get("steps")) if bcd is not None else {"steps": hp.get("steps")}),
            "seed": hp.get("seed"),
            "device": str(pl_module.device), "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        }
        save_atomic(self.output_dir / SUMMARY_NAME, (json.dumps(summary, indent=2) + "\n").encode())
        for job in self.jobs:
            print(f"{job['name']}: {job['frames']} frames in {job['wall_seconds']:.1f} s "
                  f"({job['frames_per_second']:.2f} frames/s) -> {', '.join(job['files'])}")
        print(f"summary: {self.output_dir / SUMMARY_NAME}")


__all__ = ["PredictionVideoWriter"]
