"""The generation metrics of SPRITES.md section 5, from a judge's softmax outputs.

In-house on purpose: torchmetrics' InceptionScore runs an Inception network on images; the Sprites protocol
needs the same formula on the *judge's* motion head, with the literature's class balancing and eps.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-16  # inside every log, as the reference evaluation code does


def balance_by_class(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Indices keeping the first n items of every class, n = the smallest class count (SPRITES.md section 5)."""
    counts = torch.bincount(labels, minlength=num_classes)
    n = int(counts.min())
    keep = [torch.nonzero(labels == c).flatten()[:n] for c in range(num_classes)]
    return torch.cat(keep).sort().values


def inception_metrics(probs: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """probs (M, C) softmax of a judge head, reference (M,) labels -> Acc, IS, H(y|x), H(y) (natural logs).

    Acc uses every item; IS and the entropies use the class-balanced subset. Ceilings with C balanced classes:
    Acc 1, IS C, H(y|x) 0, H(y) ln C.
    """
    num_classes = probs.shape[1]
    accuracy = (probs.argmax(1) == reference).double().mean().item()
    p = probs[balance_by_class(reference, num_classes)].double()
    h_y_given_x = -(p * torch.log(p + EPS)).sum(1).mean().item()
    marginal = p.mean(0)
    h_y = -(marginal * torch.log(marginal + EPS)).sum().item()
    kl = (p * (torch.log(p + EPS) - torch.log(marginal + EPS))).sum(1).mean().item()
    return {"acc": accuracy, "is": math.exp(kl), "h_y_given_x": h_y_given_x, "h_y": h_y}


__all__ = ["balance_by_class", "inception_metrics"]
