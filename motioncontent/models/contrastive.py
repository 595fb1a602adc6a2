"""A contrastive agreement loss between the content of a clip's two segments. Not in METHOD.md: BCD learns content
from the reconstruction alone; this gives the content encoder a direct signal from the first step.

Both segments of a clip show the same subject, so their content should agree, and differ from other clips' content
(InfoNCE, van den Oord et al. 2018, arXiv 1807.03748, in the symmetric form of CLIP/SimCLR). C-DSVAE (Bai et al.
2021) uses the same idea for the static factor of sequential VAEs. With content read from layout-free views
(models/views.py), what lets a clip find its other half is its appearance, which is what content should hold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def content_info_nce(first: torch.Tensor, second: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """first, second (B, K, C) content of the two segments of the same B clips -> symmetric InfoNCE (a scalar).

    Each clip's pooled content must pick its own other segment among the batch's; ln(B) at chance, 0 when perfect.
    The pooled vectors are centred on their batch mean before the cosine: an encoder's content starts as one large
    shared vector (its learned queries) plus clip-specific parts ~100x smaller (measured on Sprites), and the
    cosine of uncentred vectors is then ~0.999 for every pair, which left the loss at ln(B) for 1000 steps.
    """
    a, b = first.float().mean(dim=1), second.float().mean(dim=1)  # (B, C)
    centre = 0.5 * (a.mean(dim=0) + b.mean(dim=0))
    a, b = F.normalize(a - centre, dim=-1), F.normalize(b - centre, dim=-1)
    logits = a @ b.T / temperature  # (B, B); the diagonal holds the matching pairs
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


__all__ = ["content_info_nce"]
