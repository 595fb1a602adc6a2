"""Leakage probes: linear classifiers on frozen BCD features (SPRITES.md; METHOD section 10 asks "disentangled?").

A probe on the content tokens predicts the motion class; probes on the motion codes predict each appearance
attribute. Trained on the training split, scored on the test split. Near chance (1/9, 1/6) means the factor did
not leak into the other channel. Multinomial logistic regression with L-BFGS on standardised features: with a few
thousand examples and a few hundred features it converges in seconds, with no learning rate to tune.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from motioncontent.models.judge import JUDGE_HEADS
from motioncontent.systems.judge import ATTRIBUTES


@torch.no_grad()
def bcd_features(model: Any, dataset: Any, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """content (M, K * C_c) and one-hot motion codes (M, T * N * E) of every clip of a split."""
    device = model.device
    contents, codes = [], []
    for start in range(0, len(dataset), batch_size):
        video = torch.stack([dataset[k][0] for k in range(start, min(len(dataset), start + batch_size))]).to(device)
        content, code = model.encode(video)
        contents.append(content.flatten(1).cpu())
        codes.append(code.cpu())
    codebook_size = model.networks().quantizer.codebook_size
    one_hot = F.one_hot(torch.cat(codes), codebook_size).flatten(1).float()  # (M, T * N * E)
    return torch.cat(contents).float(), one_hot


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, l2: float = 1e-3, iterations: int = 200) -> float:
    """Test accuracy of an L2-regularised multinomial logistic regression fitted on (train_x, train_y)."""
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(train_x.shape[1], num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(train_x @ weight + bias, train_y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return ((test_x @ weight + bias).argmax(1) == test_y).double().mean().item()


def leakage_probes(model: Any, train_set: Any, test_set: Any, batch_size: int = 64) -> dict[str, dict[str, float]]:
    """{probe: {accuracy, chance}}: the leakage probes content -> motion and motion codes -> each attribute, and,
    to tell a leak-free channel from an empty one, motion codes -> motion and content -> each attribute."""
    train_content, train_codes = bcd_features(model, train_set, batch_size)
    test_content, test_codes = bcd_features(model, test_set, batch_size)

    def labels(dataset: Any, name: str) -> torch.Tensor:
        return torch.from_numpy(dataset.label(name)).long()

    def probe(train_x: torch.Tensor, test_x: torch.Tensor, name: str) -> dict[str, float]:
        classes = JUDGE_HEADS[name]
        accuracy = linear_probe(train_x, labels(train_set, name), test_x, labels(test_set, name), classes)
        return {"accuracy": accuracy, "chance": 1.0 / classes}

    # leakage (want chance) first, then what each channel should carry (want high)
    out = {"content_to_motion": probe(train_content, test_content, "motion")}
    for name in ATTRIBUTES:
        out[f"motion_codes_to_{name}"] = probe(train_codes, test_codes, name)
    out["motion_codes_to_motion"] = probe(train_codes, test_codes, "motion")
    for name in ATTRIBUTES:
        out[f"content_to_{name}"] = probe(train_content, test_content, name)
    return out


__all__ = ["bcd_features", "leakage_probes", "linear_probe"]
