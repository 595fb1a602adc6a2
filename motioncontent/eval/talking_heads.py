"""The talking-head benchmark: same-identity reconstruction and cross-identity motion transfer on a test split.

For every test window i a partner j of **another person** is drawn with a seeded generator. The generator
(a BCDModule, or anything with `transfer` and `reconstruct`) makes
- the **reconstruction** of i (its own content and motion): L1, PSNR and SSIM per frame against i (TALKING_HEADS.md
  2.1; [0, 1] intensities, data range 1), and every judge metric below against i: the reference;
- the **transfer** (content of i, motion of j): judged against i for identity and against j for motion.

Judge metrics (a TalkingHeadJudge, or anything returning the same dict):
- identity accuracy: the generated clip's embedding is assigned to the nearest test person (cosine to the mean
  embedding of that person's real test windows, leaving out every window of the content clip i, so a copy of
  i's frames cannot match itself). Transfer results should be recognised as the content person; the share
  recognised as the driving person is the identity leakage.
- identity factors (synthetic data only): the judge's categorical identity factors against the content clip's.
- motion-factor error (synthetic data only): mean absolute error of the judge's per-frame motion factors against
  the **ground-truth** factors of the driving clip, per factor in natural units, and normalised by each factor's
  standard deviation over the test frames (the mean over the 8 factors is the headline figure).
- mesh keypoint distance (eval/landmarks.py, when mediapipe's face mesh runs): generated vs driving frames.

The judge on the real test windows gives each metric's ceiling; "reference" figures say what a generator that
ignores the driving motion (returns the content clip) would score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import torch

from motioncontent.data.talking_heads.synthetic_faces import IDENTITY_FACTORS
from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS
from motioncontent.data.transforms import signed_to_uint8
from motioncontent.eval.frame_metrics import frame_metrics
from motioncontent.eval.landmarks import landmark_distance, normalise_landmarks

Progress = Callable[[Iterator[Any], int], Iterator[Any]]


class Generator(Protocol):
    def transfer(self, content_video: torch.Tensor, motion_video: torch.Tensor, steps: int | None = None,
                 seed: int = 0) -> torch.Tensor: ...

    def reconstruct(self, video: torch.Tensor, steps: int | None = None, seed: int = 0) -> torch.Tensor: ...


# ---- pieces ---------------------------------------------------------------------------------------------------
def transfer_pairing(identities: np.ndarray, seed: int = 0) -> np.ndarray:
    """For every item i a partner j of another identity, drawn with a seeded generator."""
    rng = np.random.default_rng(seed)
    partners = np.empty(len(identities), dtype=np.int64)
    for i in range(len(identities)):
        allowed = np.flatnonzero(identities != identities[i])
        if len(allowed) == 0:
            raise ValueError("motion transfer across identities needs clips of at least two people")
        partners[i] = allowed[rng.integers(len(allowed))]
    return partners


def nearest_identity(query: torch.Tensor, exclude_clip: torch.Tensor, gallery: torch.Tensor,
                     gallery_identity: torch.Tensor, gallery_clip: torch.Tensor) -> torch.Tensor:
    """Closed-set identification of unseen people by their embeddings.

    query (Q, D) embeddings, exclude_clip (Q,) the clip whose windows each query may not be matched against;
    gallery (M, D) embeddings of real windows with their identity (M,) and clip (M,). Returns (Q,) the identity
    whose mean gallery embedding (without the excluded clip) has the highest cosine similarity.
    """
    gallery = torch.nn.functional.normalize(gallery.double(), dim=-1)
    query = torch.nn.functional.normalize(query.double(), dim=-1)
    people = torch.unique(gallery_identity)
    member = (gallery_identity[None] == people[:, None]).double()  # (P, M)
    predicted = torch.empty(len(query), dtype=gallery_identity.dtype)
    for q in range(len(query)):
        keep = member * (gallery_clip != exclude_clip[q]).double()[None]
        counts = keep.sum(1)
        centroids = torch.nn.functional.normalize(keep @ gallery, dim=-1)
        score = centroids @ query[q]
        score[counts == 0] = -torch.inf  # a person whose only clip is the excluded one cannot be chosen
        predicted[q] = people[int(score.argmax())]
    return predicted


def motion_factor_errors(predicted: torch.Tensor, truth: torch.Tensor, scale: torch.Tensor) -> dict[str, Any]:
    """(N, T, F) predicted and true factors, (F,) per-factor scale -> per-factor MAE (natural units) and the mean
    over factors of MAE / scale (`normalised`)."""
    mae = (predicted.double() - truth.double()).abs().mean(dim=(0, 1))
    normalised = mae / scale.double()
    return {"normalised": normalised.mean().item(),
            "mae": {name: mae[k].item() for k, name in enumerate(MOTION_FACTORS)}}


def _mean(values: list[float] | np.ndarray) -> float | None:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


# ---- the benchmark --------------------------------------------------------------------------------------------
def _batches(n: int, batch_size: int) -> list[np.ndarray]:
    return [np.arange(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]


def _window_identity(dataset: Any, i: int) -> str:
    return dataset.clip_refs[dataset.items[i][0]].identity


class _Landmarks:
    """Videos (B, T, C, H, W) -> per clip, the normalised landmarks of every `stride`-th frame (NaN: no face)."""

    def __init__(self, mesh: Callable[[np.ndarray], np.ndarray], stride: int):
        self.mesh, self.stride = mesh, stride

    def __call__(self, videos: torch.Tensor) -> list[np.ndarray]:
        frames = signed_to_uint8(videos[:, :: self.stride]).permute(0, 1, 3, 4, 2).cpu().numpy()
        return [normalise_landmarks(self.mesh(clip)) for clip in frames]


def _judge_outputs(judge: Any, video: torch.Tensor) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu() for name, value in judge(video).items()}


def _factor_accuracy(outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> dict[str, float]:
    joint = torch.ones(len(next(iter(labels.values()))), dtype=torch.bool)
    result = {}
    for name in IDENTITY_FACTORS:
        correct = outputs[f"factor/{name}"].argmax(1) == labels[name]
        result[name] = correct.double().mean().item()
        joint &= correct
    result["joint"] = joint.double().mean().item()
    return result


@torch.no_grad()
def talking_head_benchmark(
    generator: Generator,
    judge: Any,
    dataset: Any,
    steps: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 16,
    landmarks: Callable[[np.ndarray], np.ndarray] | None = None,
    landmark_stride: int = 4,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Reconstruction and transfer figures of `generator` on a talking-head split (a ClipWindows).

    judge: callable video -> {"embedding", "motion", "factor/<name>"} (a TalkingHeadJudge in eval mode); its
    parameters' device is where videos go. landmarks: a FaceMeshLandmarks (or None: the mesh keypoint distance is
    skipped); scores every `landmark_stride`-th frame. limit: only the first `limit` windows (pairing included).
    """
    device = next(judge.parameters()).device
    n = len(dataset) if limit is None else min(limit, len(dataset))
    names = np.array([_window_identity(dataset, i) for i in range(n)])
    partners = transfer_pairing(names, seed)
    identity = torch.from_numpy(np.unique(names, return_inverse=True)[1].astype(np.int64))
    clip = torch.tensor([dataset.items[i][0] for i in range(n)])
    mesh = _Landmarks(landmarks, landmark_stride) if landmarks is not None else None
    chunks = _batches(n, batch_size)

    # Pass 1: the real windows. Their judge outputs are the gallery and the ceilings; their landmarks the targets.
    real: dict[str, list[Any]] = {"out": [], "labels": [], "marks": []}
    for items in progress(iter(chunks), len(chunks)) if progress else chunks:
        videos, labels = zip(*(dataset[int(k)] for k in items))
        video = torch.stack(videos).to(device)
        real["out"].append(_judge_outputs(judge, video))
        real["labels"] += list(labels)
        if mesh:
            real["marks"] += mesh(video)
    out_real = {name: torch.cat([o[name] for o in real["out"]]) for name in real["out"][0]}
    synthetic = "factors" in real["labels"][0] and all(name in real["labels"][0] for name in IDENTITY_FACTORS)

    # Pass 2: reconstructions and transfers.
    generated: dict[str, list[Any]] = {"recon": [], "transfer": [], "recon_marks": [], "transfer_marks": []}
    pixel: dict[str, list[torch.Tensor]] = {"l1": [], "psnr": [], "ssim": []}
    for items in progress(iter(chunks), len(chunks)) if progress else chunks:
        source = torch.stack([dataset[int(k)][0] for k in items]).to(device)
        driving = torch.stack([dataset[int(k)][0] for k in partners[items]]).to(device)
        recon = generator.reconstruct(source, steps=steps, seed=seed)
        transfer = generator.transfer(source, driving, steps=steps, seed=seed)
        for name, values in frame_metrics(recon, source).items():
            pixel[name].append(values.cpu())
        generated["recon"].append(_judge_outputs(judge, recon))
        generated["transfer"].append(_judge_outputs(judge, transfer))
        if mesh:
            generated["recon_marks"] += mesh(recon)
            generated["transfer_marks"] += mesh(transfer)
    outs = {kind: {name: torch.cat([o[name] for o in generated[kind]]) for name in out_real}
            for kind in ("recon", "transfer")}

    driving_identity, own = identity[partners], identity
    result: dict[str, Any] = {
        "windows": n, "people": int(len(torch.unique(identity))), "seed": seed, "steps": steps,
        "frames_per_window": int(source.shape[1]), "chance_identity": 1.0 / len(torch.unique(identity)),
        "reconstruction": {name: torch.cat(v).mean().item() for name, v in pixel.items()},
    }

    # Identity: recognised among the test people, never matched against the content clip's own windows.
    ident: dict[str, Any] = {}
    for kind, embedding in (("real", out_real["embedding"]), ("recon", outs["recon"]["embedding"]),
                            ("transfer", outs["transfer"]["embedding"])):
        guess = nearest_identity(embedding, clip, out_real["embedding"], identity, clip)
        ident[kind] = {"accuracy": (guess == own).double().mean().item()}
        if kind == "transfer":
            ident[kind]["recognised_as_driving"] = (guess == driving_identity).double().mean().item()
    result["identity"] = ident

    if synthetic:
        factors = torch.stack([lab["factors"] for lab in real["labels"]])  # (n, T, F) ground truth
        scale = factors.flatten(0, 1).std(0).clamp_min(1e-8)
        mean_predictor = factors.flatten(0, 1).mean(0).expand_as(factors)
        labels = {name: torch.tensor([int(lab[name]) for lab in real["labels"]]) for name in IDENTITY_FACTORS}
        driving_labels = {name: v[partners] for name, v in labels.items()}
        result["motion_factors"] = {
            "real_vs_own": motion_factor_errors(out_real["motion"], factors, scale),
            "recon_vs_own": motion_factor_errors(outs["recon"]["motion"], factors, scale),
            "transfer_vs_driving": motion_factor_errors(outs["transfer"]["motion"], factors[partners], scale),
            "transfer_vs_content": motion_factor_errors(outs["transfer"]["motion"], factors, scale),
            # What a generator that copies the content clip would score with a perfect judge, and a constant guess.
            "reference_content_vs_driving": motion_factor_errors(factors, factors[partners], scale),
            "reference_mean_predictor": motion_factor_errors(mean_predictor, factors, scale),
            "scale": {name: scale[k].item() for k, name in enumerate(MOTION_FACTORS)},
        }
        result["identity_factors"] = {
            "real_vs_own": _factor_accuracy(out_real, labels),
            "recon_vs_own": _factor_accuracy(outs["recon"], labels),
            "transfer_vs_content": _factor_accuracy(outs["transfer"], labels),
            "transfer_vs_driving": _factor_accuracy(outs["transfer"], driving_labels),
        }
    else:
        result["motion_factors"] = result["identity_factors"] = {"available": False,
                                                                 "reason": "no ground-truth factors in this data"}

    if mesh:
        marks = real["marks"]
        recon_d = [landmark_distance(g, marks[i]) for i, g in enumerate(generated["recon_marks"])]
        transfer_d = [landmark_distance(g, marks[partners[i]]) for i, g in enumerate(generated["transfer_marks"])]
        content_d = [landmark_distance(marks[i], marks[partners[i]]) for i in range(n)]
        found = lambda m: float(np.mean([np.isfinite(x[:, 0, 0]).mean() for x in m]))  # noqa: E731
        result["mesh_keypoints"] = {
            "available": True, "frame_stride": landmark_stride, "unit": "inter-ocular distance",
            "recon_vs_own": _mean(np.concatenate(recon_d)),
            "transfer_vs_driving": _mean(np.concatenate(transfer_d)),
            "reference_content_vs_driving": _mean(np.concatenate(content_d)),
            "face_found": {"real": found(marks), "recon": found(generated["recon_marks"]),
                           "transfer": found(generated["transfer_marks"])},
        }
    return result


__all__ = ["motion_factor_errors", "nearest_identity", "talking_head_benchmark", "transfer_pairing"]
