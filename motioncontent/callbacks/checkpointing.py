"""Checkpoints a killed run can always resume from: written atomically, checked before use, `last` skips bad ones.

- `AtomicCheckpointIO` (a Lightning CheckpointIO plugin): writes a temporary file in the target folder, fsyncs it,
  then renames it over the target (os.replace), so a kill or power loss leaves the old file or the new one, never
  half of one. Lightning's own TorchCheckpointIO writes through an fsspec transaction whose temporary file may sit
  on another filesystem (then the "rename" is a copy) and is not fsynced. Before loading, it checks the file (a
  torch checkpoint is a zip: a truncated one has no central directory, a damaged one fails its CRCs) and raises
  one clear error instead of torch's unpickling traceback.
- `ResumableCheckpoint` (a ModelCheckpoint): installs AtomicCheckpointIO when the strategy uses the stock
  TorchCheckpointIO (so one line in a config's callbacks gives both), and resolves `--ckpt_path last` to the newest
  intact checkpoint of the run: in its own folder and in the other `version_*` folders of the same logger name (a
  restarted command gets a new version folder, where Lightning alone would find nothing to resume and silently
  start from scratch); damaged files are named in a warning and skipped, so the previous good one is used.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from motioncontent.errors import MotionContentError


class CorruptCheckpointError(MotionContentError):
    """A checkpoint file that is truncated or damaged."""


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why the file at path is not a complete torch checkpoint, or None when it is (reads the whole file once)."""
    path = Path(path)
    if not path.is_file():
        return "no such file"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # CRC of every member
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"truncated or not a checkpoint ({error})"
    if bad is not None:
        return f"damaged (member {bad} fails its checksum)"
    return None


def check_checkpoint(path: str | os.PathLike) -> None:
    """Raise CorruptCheckpointError naming path when it is not a complete checkpoint."""
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CorruptCheckpointError(f"checkpoint {path} is unusable: {problem}; pass another --ckpt_path, or "
                                     "`last` to resume from the newest intact checkpoint of the run")


def _local(path: str | os.PathLike) -> bool:
    return "://" not in str(path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose writes are atomic and durable and whose reads are checked first (local paths;
    remote URLs go to Lightning's own implementation)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if not _local(path) or storage_options is not None:
            return super().save_checkpoint(checkpoint, path, storage_options)
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same folder (so os.replace is a rename), a name no checkpoint search matches, unique per process.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with open(tmp, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        try:  # make the rename itself durable
            folder = os.open(path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(folder)
        except OSError:
            pass
        finally:
            os.close(folder)

    def load_checkpoint(self, path: str | os.PathLike, map_location: Callable | None = lambda storage, loc: storage,
                        weights_only: bool | None = None) -> dict[str, Any]:
        if _local(path):
            check_checkpoint(path)
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


_VERSION = re.compile(r"version_\d+")


class ResumableCheckpoint(ModelCheckpoint):
    """ModelCheckpoint with atomic writes and a `last` that finds the newest intact checkpoint of the run."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Before Lightning loads --ckpt_path (it does so after the setup hooks), so the check applies to it too.
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        super().setup(trainer, pl_module, stage)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A run that stops between two interval saves (max_time, early stopping, max_steps off the interval) would
        # otherwise keep `last` at the previous interval: Lightning saves `last` at the end only when no checkpoint
        # was saved at all, and the steps since the interval (up to every_n_train_steps - 1) would be lost.
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        super().on_train_end(trainer, pl_module)

    def _checkpoint_folders(self, trainer: pl.Trainer) -> list[Path]:
        own = Path(self._ModelCheckpoint__resolve_ckpt_dir(trainer))  # Lightning's rule for dirpath
        folders = [own]
        if _VERSION.fullmatch(own.parent.name):  # <save_dir>/<name>/version_N/checkpoints: all versions of <name>
            folders += [p / own.name for p in sorted(own.parent.parent.iterdir()) if _VERSION.fullmatch(p.name)]
        return list(dict.fromkeys(folders))

    def _find_last_checkpoints(self, trainer: pl.Trainer) -> set[str]:
        """The newest intact checkpoint (any name) of the run's checkpoint folders, as Lightning's `last` search
        expects: a set it takes the newest of."""
        candidates = [p for folder in self._checkpoint_folders(trainer) if folder.is_dir()
                      for p in folder.glob(f"*{self.FILE_EXTENSION}") if p.is_file()]
        candidates.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for path in candidates:
            problem = checkpoint_problem(path)
            if problem is None:
                return {str(path)}
            rank_zero_warn(f"Skipping checkpoint {path}: {problem}.")
        if candidates:  # starting from scratch instead would silently throw the run away
            raise CorruptCheckpointError(f"--ckpt_path last: none of the {len(candidates)} checkpoint(s) in "
                                         f"{', '.join(sorted({str(p.parent) for p in candidates}))} is intact")
        return set()


__all__ = ["AtomicCheckpointIO", "CorruptCheckpointError", "ResumableCheckpoint", "check_checkpoint",
           "checkpoint_problem"]
