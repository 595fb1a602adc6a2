"""SampleGrid: a motion-transfer grid of held-out clips, as a PNG and an animated GIF, each validation epoch.

Row 0 shows the content sources, column 0 the motion sources, and cell (r, c) the transfer: content of source c
driven by the motion of source r. A disentangled model keeps the look constant down each column and the movement
constant along each row. Files go to `<run folder>/samples/` (and TensorBoard's Images tab).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from motioncontent.callbacks.media import gif_bytes, log_gif, log_image, png_bytes, save_atomic
from motioncontent.data.transforms import signed_to_uint8


def source_labels(dataset: Any, count: int) -> tuple[list[Any], list[Any]]:
    """The `character` and `motion` labels of the first `count` items (the item index where one has none).

    Only the labels are kept. This used to hold all `count` decoded clips at once to read them (512 Sprites clips of
    8 x 3 x 64 x 64 float32: 192 MiB) at every validation end; freed in 384 KiB pieces, that memory stayed in the
    process's heap (RssAnon), which the memory soak saw as spikes and epoch-to-epoch swings of its anonymous RSS.
    A dataset with per-split label arrays (SpritesDataset.label) is read without decoding any clip."""
    label = getattr(dataset, "label", None)
    names = getattr(dataset, "labels", None)
    if callable(label) and isinstance(names, dict) and {"character", "motion"} <= set(names):
        return ([int(x) for x in label("character")[:count]], [int(x) for x in label("motion")[:count]])
    characters, motions = [], []
    for i in range(count):  # one decoded item alive at a time
        item = dataset[i]
        labels = item[1] if isinstance(item, (tuple, list)) and isinstance(item[1], dict) else {}
        characters.append(labels.get("character", i))
        motions.append(labels.get("motion", i))
        del item, labels
    return characters, motions


def pick_sources(dataset: Any, num_content: int, num_motion: int, scan: int = 512) -> tuple[list[int], list[int]]:
    """Indices of content sources (distinct `character` labels) and motion sources (distinct `motion` labels, from
    other characters); without labels, simply the first items."""
    characters, motions = source_labels(dataset, min(len(dataset), scan))
    content: list[int] = []
    for i, character in enumerate(characters):
        if len(content) < num_content and character not in {characters[j] for j in content}:
            content.append(i)
    taken = {characters[j] for j in content}
    motion: list[int] = []
    for i, move in enumerate(motions):
        if len(motion) < num_motion and characters[i] not in taken and move not in {motions[j] for j in motion}:
            motion.append(i)
    if not motion:  # every character is a content source (a validation set of few people): other items, or itself
        motion = [i for i in range(len(characters)) if i not in content][:num_motion] or content[:num_motion]
    return content, motion


def swap_grid(content: torch.Tensor, motion: torch.Tensor, transfers: torch.Tensor) -> np.ndarray:
    """uint8 (T, H*(m+1), W*(c+1), 3) grid frames from content (c, T, C, H, W), motion (m, T, C, H, W) and
    transfers (m, c, T, C, H, W); the top-left cell stays black."""
    m, c, t, _, h, w = transfers.shape
    grid = torch.zeros(t, 3, h * (m + 1), w * (c + 1), dtype=torch.uint8)
    for j in range(c):
        grid[:, :, :h, w * (j + 1) : w * (j + 2)] = signed_to_uint8(content[j, :t])
    for i in range(m):
        grid[:, :, h * (i + 1) : h * (i + 2), :w] = signed_to_uint8(motion[i, :t])
        for j in range(c):
            grid[:, :, h * (i + 1) : h * (i + 2), w * (j + 1) : w * (j + 2)] = signed_to_uint8(transfers[i, j])
    return grid.permute(0, 2, 3, 1).numpy()


def filmstrip(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) -> (H, T*W + gaps, 3): the frames side by side with a 4-pixel grey gap, for a static PNG."""
    gap = np.full((frames.shape[1], 4, 3), 96, dtype=np.uint8)
    parts = []
    for frame in frames:
        parts += [frame, gap]
    return np.concatenate(parts[:-1], axis=1)


def grid_filmstrips(frames: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """A static picture of an animated grid: every cell becomes a filmstrip of its frames."""
    h, w = frames.shape[1] // rows, frames.shape[2] // columns
    lines = []
    for i in range(rows):
        cells = [filmstrip(frames[:, i * h : (i + 1) * h, j * w : (j + 1) * w]) for j in range(columns)]
        gap = np.full((h, 16, 3), 255, dtype=np.uint8)
        lines.append(np.concatenate([x for cell in cells for x in (cell, gap)][:-1], axis=1))
    gap = np.full((8, lines[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([x for line in lines for x in (line, gap)][:-1], axis=0)


class SampleGrid(Callback):
    """Args: num_content / num_motion: grid size; every_n_epochs; steps: sampler steps (None: the model's);
    seed: sampling seed (fixed, so grids of different epochs differ only by the model); fps of the GIF."""

    def __init__(self, num_content: int = 4, num_motion: int = 4, every_n_epochs: int = 1, steps: int | None = None,
                 seed: int = 0, fps: float = 8.0):
        self.num_content, self.num_motion = num_content, num_motion
        self.every_n_epochs, self.steps, self.seed, self.fps = every_n_epochs, steps, seed, fps

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or ((trainer.current_epoch + 1) % self.every_n_epochs and not trainer.is_last_batch):
            return
        folder = Path(trainer.log_dir or trainer.default_root_dir) / "samples"  # a broadcast: every rank must call it
        if not trainer.is_global_zero:
            return
        loaders = trainer.val_dataloaders
        dataset = (loaders[0] if isinstance(loaders, (list, tuple)) else loaders).dataset
        dataset = getattr(dataset, "clips", dataset)  # unwrap SameCharacterPairs: the grid shows single clips
        self.write(pl_module, dataset, folder, trainer.logger, trainer.global_step, f"epoch{trainer.current_epoch:03d}")

    def write(self, pl_module: LightningModule, dataset: Any, folder: Path, logger: Any, step: int,
              name: str) -> tuple[Path, Path]:
        """Render the grid, save PNG + GIF (also as swap_grid.png/.gif, the latest), log them; return the paths."""
        content_ids, motion_ids = pick_sources(dataset, self.num_content, self.num_motion)
        content = torch.stack([dataset[i][0] for i in content_ids]).to(pl_module.device)
        motion = torch.stack([dataset[i][0] for i in motion_ids]).to(pl_module.device)
        c, m = len(content), len(motion)
        result = pl_module.transfer(content.repeat(m, 1, 1, 1, 1), motion.repeat_interleave(c, dim=0),
                                    steps=self.steps, seed=self.seed)
        frames = swap_grid(content.cpu(), motion.cpu(), result.cpu().reshape(m, c, *result.shape[1:]))
        still = grid_filmstrips(frames, m + 1, c + 1)
        png, gif = png_bytes(still), gif_bytes(frames, self.fps)
        paths = (folder / f"swap_grid_{name}.png", folder / f"swap_grid_{name}.gif")
        for path, data in ((paths[0], png), (paths[1], gif), (folder / "swap_grid.png", png), (folder / "swap_grid.gif", gif)):
            save_atomic(path, data)
        log_image(logger, "samples/swap_grid", still, step)
        log_gif(logger, "samples/swap_grid_animated", frames, step, self.fps)
        return paths
