"""The Sprites swap benchmark (SPRITES.md sections 5-6, in BCD's transfer form).

Over the test split, with a fixed seeded pairing (i, j) of clips of different characters *and* different motions,
generate content-of-i driven by motion-of-j and let the judge score it: the motion head against j, the four
appearance heads against i. Reconstructions (content and motion of the same clip) give PSNR and SSIM and the
judge's accuracy on the model's own clips (if it is low there too, the samples rather than the swap are what
fails), and the hard codes of every test clip give the measured bits/frame. A disentangled model scores high on
both swap accuracies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from motioncontent.data.sprites.factors import action_and_direction, facing_change
from motioncontent.eval.frame_metrics import frame_metrics
from motioncontent.eval.judge_metrics import inception_metrics
from motioncontent.models.rate import code_bits_per_frame
from motioncontent.systems.inference import sampling_settings
from motioncontent.systems.judge import ATTRIBUTES

Progress = Callable[[Iterator[Any], int], Iterator[Any]]


def swap_pairing(characters: np.ndarray, motions: np.ndarray, seed: int = 0) -> np.ndarray:
    """For every clip i a partner j of another character and another motion, drawn with a seeded generator."""
    rng = np.random.default_rng(seed)
    n = len(characters)
    partners = np.empty(n, dtype=np.int64)
    for i in range(n):
        allowed = np.flatnonzero((characters != characters[i]) & (motions != motions[i]))
        if len(allowed) == 0:
            raise ValueError("the swap benchmark needs clips of at least two characters and two motions")
        partners[i] = allowed[rng.integers(len(allowed))]
    return partners


def _batches(n: int, batch_size: int) -> list[np.ndarray]:
    return [np.arange(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]


def _videos(dataset: Any, items: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.stack([dataset[int(k)][0] for k in items]).to(device)


@torch.no_grad()
def swap_benchmark(
    model: Any,
    judge: torch.nn.Module,
    dataset: Any,
    steps: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Swap and reconstruction figures of a BCDModule on a Sprites split (a SpritesDataset).

    steps=None samples with the model's own sampler settings; limit scores only the first `limit` clips of the
    split (a quick look; the reported figures use all of them).
    """
    device = next(judge.parameters()).device
    labels = {name: dataset.label(name) for name in ("character", "motion", "direction", *ATTRIBUTES)}
    characters, motions = labels["character"], labels["motion"]
    partners = swap_pairing(characters, motions, seed)
    n = len(partners) if limit is None else min(limit, len(partners))
    chunks = _batches(n, batch_size)
    swap_probs: dict[str, list[torch.Tensor]] = {name: [] for name in ("motion", *ATTRIBUTES)}
    real_correct = {name: 0 for name in ("motion", *ATTRIBUTES)}
    recon_correct = {name: 0 for name in ("motion", *ATTRIBUTES)}
    codes, psnr, ssim = [], [], []
    for items in progress(iter(chunks), len(chunks)) if progress else chunks:
        source, driving = _videos(dataset, items, device), _videos(dataset, partners[items], device)
        content, source_codes = model.encode(source)
        _, driving_codes = model.encode(driving)
        codes.append(source_codes.cpu())
        swapped = model.decode(content, driving_codes, steps=steps, seed=seed)
        for name, logits in judge(swapped).items():
            swap_probs[name].append(logits.softmax(1).cpu())
        for name, logits in judge(source).items():  # the judge on real clips: the ceiling of every accuracy
            real_correct[name] += int((logits.argmax(1).cpu() == torch.from_numpy(labels[name][items])).sum())
        recon = model.decode(content, source_codes, steps=steps, seed=seed)
        for name, logits in judge(recon).items():  # what the judge can read from the model's own clips
            recon_correct[name] += int((logits.argmax(1).cpu() == torch.from_numpy(labels[name][items])).sum())
        recon_metrics = frame_metrics(recon, source)
        psnr.append(recon_metrics["psnr"].cpu())
        ssim.append(recon_metrics["ssim"].cpu())

    probs = {name: torch.cat(p) for name, p in swap_probs.items()}
    driving_motion = torch.from_numpy(motions[partners[:n]])
    judged_motion = probs["motion"].argmax(1)
    result: dict[str, Any] = {"clips": n, **sampling_settings(model, steps), "seed": seed}
    result["motion_swap"] = inception_metrics(probs["motion"], driving_motion)
    # Where the motion errors go: a swap that moves like its content clip shows motion carried by the content.
    result["motion_of_content_clip"] = (judged_motion == torch.from_numpy(motions[:n])).double().mean().item()
    for name, judged, driving in zip(("action", "direction"), action_and_direction(judged_motion),
                                     action_and_direction(driving_motion)):
        result[f"{name}_swap_acc"] = (judged == driving).double().mean().item()
    correct = {name: probs[name].argmax(1) == torch.from_numpy(labels[name][:n]) for name in ATTRIBUTES}
    correct["joint"] = torch.stack(list(correct.values())).all(0)
    for name in ATTRIBUTES:
        result[f"{name}_swap_acc"] = correct[name].double().mean().item()
    result["attributes_joint_swap_acc"] = correct["joint"].double().mean().item()
    # Whether appearance survives a change of pose: content read in one facing, drawn in another (mirrored or turned).
    facing, driving_facing = (torch.from_numpy(labels["direction"][rows]) for rows in (slice(n), partners[:n]))
    result["attributes_by_facing"] = {
        group: {name: c[rows].double().mean().item() for name, c in correct.items()} if rows.any() else None
        for group, rows in facing_change(facing, driving_facing).items()}
    result["judge_on_real"] = {name: c / n for name, c in real_correct.items()}
    result["judge_on_reconstruction"] = {name: c / n for name, c in recon_correct.items()}
    result["reconstruction_psnr"] = torch.cat(psnr).mean().item()
    result["reconstruction_ssim"] = torch.cat(ssim).mean().item()
    result["bits_per_frame"] = code_bits_per_frame(torch.cat(codes), model.networks().quantizer.codebook_size,
                                                   sync=False).item()
    result["target_bits_per_frame"] = float(model.target_bits)
    result["capacity_bits_per_frame"] = model.capacity_bits
    return result


__all__ = ["swap_benchmark", "swap_pairing"]
