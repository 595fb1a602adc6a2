"""Windowed inference with a trained BCD model, shared by `predict`, the motion prior and the motion bitstream.

Long videos go through the model in fixed windows (METHOD 8.2 trains on short clips, and the encoder holds at most
`max_frames` frames): content is read once from the first `content_frames` frames of the source (a single image is
repeated), motion codes window by window, and each window is decoded on its own with the content fixed and the
seed `seed + window index`, so a video of any length needs the memory of one window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motioncontent.data.transforms import signed_to_uint8, uint8_to_signed
from motioncontent.errors import MotionContentError

DEFAULT_WINDOW = 16  # frames per motion window: the talking-head training clip (configs/talking_heads.yaml)
DEFAULT_CONTENT_FRAMES = 8  # frames content is read from: the cross-driving content segment of those clips


# A hyperparameter only each kind of checkpoint has: how a checkpoint that records no `_class_path` (one not written
# through the CLI, e.g. by the tests' tiny models) is recognised.
CHECKPOINT_KEYS = {"BCDModule": "denoiser_dim", "MotionPriorModule": "bcd_id", "SpritesJudgeModule": "frame_dim",
                   "FrameAutoencoderModule": "latent_channels"}


def read_checkpoint(path: str | Path | None, what: str) -> dict[str, Any]:
    """The checkpoint dict at `path`, or a one-line MotionContentError. Loaded with weights_only=True (tensors and
    plain containers only; no code in the file runs) and mmap=True (nothing is read until used)."""
    if not path:
        raise MotionContentError(f"no {what} checkpoint given")
    path = Path(path)
    if not path.is_file():
        raise MotionContentError(f"{what} checkpoint not found: {path}")
    try:
        meta = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise MotionContentError(f"{path} is not a readable checkpoint ({type(error).__name__}; a {what} "
                                 f"checkpoint is needed)") from None
    if not isinstance(meta, dict):
        raise MotionContentError(f"{path} is not a Lightning checkpoint (it holds a {type(meta).__name__})")
    return meta


def checkpoint_class(meta: dict[str, Any]) -> str | None:
    """The LightningModule class name a checkpoint holds: LightningCLI records `_class_path` in its hyperparameters;
    without it, the class whose tell-tale hyperparameter is present."""
    params = meta.get("hyper_parameters") or {}
    if not isinstance(params, dict):
        return None
    class_path = params.get("_class_path")
    if isinstance(class_path, str) and class_path:
        return class_path.rsplit(".", 1)[-1]
    return next((name for name, key in CHECKPOINT_KEYS.items() if key in params), None)


def check_checkpoint(path: str | Path | None, cls_name: str, what: str, need_class_path: bool = False
                     ) -> dict[str, Any]:
    """The checkpoint dict, or a one-line MotionContentError unless `path` is a readable checkpoint of `cls_name`.

    need_class_path: also require the `_class_path` LightningCLI records, which `--ckpt_path` needs (LightningCLI
    rebuilds the model from it; without it its parsing fails with a long message)."""
    meta = read_checkpoint(path, what)
    found = checkpoint_class(meta)
    if found != cls_name:
        holds = f"it holds a {found}" if found else "it records no model class"
        raise MotionContentError(f"{path} is not a {cls_name} checkpoint ({holds}; a {what} checkpoint is needed)")
    if need_class_path and "_class_path" not in (meta.get("hyper_parameters") or {}):
        raise MotionContentError(f"{path} records no _class_path, which {what} needs: give a checkpoint written by "
                                 "`motioncontent fit`")
    return meta


def load_checkpoint_module(path: str | Path, cls: type, what: str) -> torch.nn.Module:
    """cls.load_from_checkpoint(path) on CPU in eval mode, or a one-line MotionContentError."""
    check_checkpoint(path, cls.__name__, what)
    # Inside LightningCLI's instantiation of the enclosing module (the predictor, the prior), Lightning hands that
    # module's arguments to every save_hyperparameters() call through a context variable, so the loaded model would
    # record the wrong hyperparameters; the variable is cleared while it loads.
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters

    token = _given_hyperparameters.set(None)
    try:
        return cls.load_from_checkpoint(str(path), map_location="cpu", weights_only=True,
                                         **_load_overrides(cls)).eval()
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:200]
        raise MotionContentError(f"{path} does not load as a {cls.__name__} ({type(error).__name__}: {reason})"
                                 ) from None
    finally:
        _given_hyperparameters.reset(token)


def _load_overrides(cls: type) -> dict[str, object]:
    # A prior checkpoint names the BCD checkpoint it was trained from; inference passes that model in itself.
    return {"bcd_checkpoint": None} if cls.__name__ == "MotionPriorModule" else {}


def load_bcd(path: str | Path) -> torch.nn.Module:
    from motioncontent.systems.bcd import BCDModule

    return load_checkpoint_module(path, BCDModule, "BCD")


def load_prior(path: str | Path, bcd: torch.nn.Module | None = None) -> torch.nn.Module:
    """A trained motion prior; with `bcd`, checked to have been trained on that model's codes."""
    from motioncontent.systems.prior import MotionPriorModule

    prior = load_checkpoint_module(path, MotionPriorModule, "motion prior")
    if bcd is not None and prior.hparams.bcd_id != model_id(bcd):
        raise MotionContentError(f"the prior {path} was trained on the codes of BCD model {prior.hparams.bcd_id}, "
                                 f"not of this one ({model_id(bcd)})")
    return prior


def set_sampling(bcd: torch.nn.Module, sampler: str | None = None, guidance: float | None = None,
                 guidance_interval: tuple[float, float] | None = None) -> None:
    """Override a loaded BCD model's sampler, content guidance and its sigma interval for decoding (None keeps the
    checkpoint's)."""
    from motioncontent.diffusion.edm import check_guidance
    from motioncontent.diffusion.samplers import SAMPLERS

    if sampler and sampler not in SAMPLERS:
        raise MotionContentError(f"unknown sampler '{sampler}'; choose {' or '.join(SAMPLERS)}")
    try:
        check_guidance(1.0 if guidance is None else guidance, guidance_interval)
    except ValueError as error:
        raise MotionContentError(str(error)) from None
    if sampler:
        bcd.hparams.sampler = sampler
    if guidance is not None:
        bcd.hparams.content_guidance = float(guidance)
    if guidance_interval is not None:
        bcd.hparams.content_guidance_interval = tuple(float(v) for v in guidance_interval)


def sampling_settings(bcd: torch.nn.Module, steps: int | None = None) -> dict[str, Any]:
    """How a loaded BCD model decodes now (after any `set_sampling`): recorded beside every figure and file made
    from its samples. steps: a per-call override of the model's sample_steps. A generator without hparams (the
    tests' oracles) records only the steps."""
    hparams = getattr(bcd, "hparams", {})
    return {"sampler": hparams.get("sampler"), "steps": steps or hparams.get("sample_steps"),
            "guidance": hparams.get("content_guidance", 1.0),
            "guidance_interval": hparams.get("content_guidance_interval")}


def model_id(module: torch.nn.Module) -> str:
    """16 hex digits of the sha256 of a module's weights (names, shapes, bytes): names a model, not a file."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def to_model(frames: np.ndarray | list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 frames (T, H, W, 3) -> the model's (1, T, 3, H, W) float in [-1, 1]."""
    array = np.ascontiguousarray(np.stack(frames) if isinstance(frames, list) else frames)
    return uint8_to_signed(torch.from_numpy(array).permute(0, 3, 1, 2)).unsqueeze(0).to(device)


def to_frames(video: torch.Tensor) -> np.ndarray:
    """(1, T, 3, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    return signed_to_uint8(video[0].float().cpu()).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def encode_content(bcd: torch.nn.Module, clip: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> content (1, K, C_c)."""
    content, _ = bcd.encode(to_model(clip, bcd.device))
    return content


@torch.no_grad()
def encode_motion(bcd: torch.nn.Module, windows: Iterable[np.ndarray]) -> Iterator[torch.Tensor]:
    """uint8 windows (T_w, H, W, 3) -> their codes (T_w, N) int64 on the CPU, one window at a time."""
    for window in windows:
        _, codes = bcd.encode(to_model(window, bcd.device))
        yield codes[0].cpu()


def codes_of_clips(bcd: torch.nn.Module, video: torch.Tensor, window: int, content_frames: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of clips (B, T, C, H, W) -> (content (B, K, C_c) from the first content_frames frames, codes
    (B, T, N) encoded in windows of `window` frames): the same reading as predict and the bitstream use."""
    content, _ = bcd.encode(video[:, :content_frames])
    codes = torch.cat([bcd.encode(video[:, s : s + window])[1] for s in range(0, video.shape[1], window)], dim=1)
    return content, codes


@torch.no_grad()
def decode_window(bcd: torch.nn.Module, content: torch.Tensor, codes: torch.Tensor, index: int,
                  steps: int | None = None, seed: int = 0) -> np.ndarray:
    """content (1, K, C_c), codes (T_w, N) of window `index` -> uint8 frames (T_w, H, W, 3)."""
    video = bcd.decode(content, codes.unsqueeze(0).to(content.device), steps=steps, seed=seed + index)
    return to_frames(video)


def windows_of(frames: Iterable[np.ndarray], window: int) -> Iterator[np.ndarray]:
    """Consecutive windows (T_w, H, W, 3) of a frame stream; the last one may be shorter."""
    buffer: list[np.ndarray] = []
    for frame in frames:
        buffer.append(frame)
        if len(buffer) == window:
            yield np.stack(buffer)
            buffer = []
    if buffer:
        yield np.stack(buffer)


__all__ = ["DEFAULT_CONTENT_FRAMES", "DEFAULT_WINDOW", "codes_of_clips", "decode_window",
           "encode_content", "encode_motion", "load_bcd", "load_prior", "model_id", "to_frames", "to_model",
           "windows_of"]
