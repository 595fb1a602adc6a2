"""Content partners mined without labels: for each training clip, another clip that a trained model's content places
nearest, among the clips its motion codes say move differently. Not in METHOD.md, which pairs segments of one clip
only; in the spirit of NNCLR (Dwibedi et al. 2021, arXiv 2104.14548), which takes a sample's nearest neighbour as its
positive. On Sprites a clip never changes motion, so within-clip cross-driving lets content hold the motion; a partner
clip of the same character that moves otherwise makes content serve another motion, as the labelled
`content_pairing_prob` does, from the model's own features instead of the character labels. The callback
MineContentPartners (callbacks/content_partners.py) runs it part-way through training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NO_PARTNER = -1


def motion_signature(one_hot_codes: torch.Tensor, num_frames: int) -> torch.Tensor:
    """one-hot motion codes (M, T * N * E), frames outermost (as eval/probes.bcd_features gives them) -> (M, N * E):
    each group's histogram over the clip's frames, unit norm. Order-free, so two clips of one motion started at
    different phases still match."""
    histogram = one_hot_codes.float().view(len(one_hot_codes), num_frames, -1).mean(dim=1)
    return F.normalize(histogram, dim=1)


def mine_content_partners(content: torch.Tensor, signature: torch.Tensor, same_motion_cosine: float = 0.9,
                          chunk: int = 2048) -> torch.Tensor:
    """content (M, D), signature (M, S) -> partner (M,): for each clip, the clip of highest content cosine (centred
    features, as the swap benchmark's neighbours) among those whose motion signatures have cosine below
    `same_motion_cosine`; NO_PARTNER where there is none. Chunked so that M = 9000 needs no 9000 x 9000 matrix twice."""
    x = F.normalize(content.float() - content.float().mean(0), dim=1)
    partner = torch.full((len(x),), NO_PARTNER, dtype=torch.long)
    for start in range(0, len(x), chunk):
        rows = slice(start, start + chunk)
        similarity = x[rows] @ x.T  # (chunk, M)
        moves_alike = signature[rows] @ signature.T >= same_motion_cosine  # includes the clip itself
        similarity = similarity.masked_fill(moves_alike, float("-inf"))
        best = similarity.max(dim=1)
        partner[rows] = torch.where(torch.isfinite(best.values), best.indices, NO_PARTNER)
    return partner


__all__ = ["NO_PARTNER", "mine_content_partners", "motion_signature"]
