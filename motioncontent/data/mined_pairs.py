"""Content partners mined without labels: for each training clip, clips that a trained model's content places nearest,
in each group of clips that its motion codes say move otherwise. Not in METHOD.md, which pairs segments of one clip
only; in the spirit of NNCLR (Dwibedi et al. 2021, arXiv 2104.14548), which takes a sample's nearest neighbour as its
positive, with the mutual and shared-neighbour checks of k-reciprocal re-ranking (Zhong et al. 2017, arXiv
1701.08398) to keep the pairs that a turn of the body makes far apart. On Sprites a clip never changes motion, so
within-clip cross-driving lets content hold the motion; a partner clip of the same character that moves otherwise
makes content serve another motion, as the labelled `content_pairing_prob` does, from the model's own features
instead of the character labels. The callback MineContentPartners (callbacks/content_partners.py) runs it part-way
through training.
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


def centred_unit(features: torch.Tensor) -> torch.Tensor:
    """(M, D) -> (M, D): features less their mean, unit norm; the dot products are the centred cosines that the
    mining and the swap benchmark's neighbour diagnostic rank by."""
    return F.normalize(features.float() - features.float().mean(0), dim=1)


def motion_groups(signature: torch.Tensor, same_motion_cosine: float = 0.9) -> torch.Tensor:
    """signature (M, S), unit rows -> group id (M,). Leader clustering: the first clip not yet grouped leads a group of
    every ungrouped clip whose signature has cosine >= `same_motion_cosine` with its own. One pass and no number of
    groups to choose; on the Sprites training split at 0.9 it finds the 9 motions and a few stray clips."""
    group = torch.full((len(signature),), -1, dtype=torch.long)
    groups = 0
    for leader in range(len(signature)):
        if group[leader] < 0:
            group[(group < 0) & (signature @ signature[leader] >= same_motion_cosine)] = groups
            group[leader] = groups  # even where rounding puts its own cosine a hair below
            groups += 1
    return group


def mine_content_partners(content: torch.Tensor, signature: torch.Tensor, same_motion_cosine: float = 0.9,
                          min_shared: int = 3, max_partners: int = 8, chunk: int = 2048) -> torch.Tensor:
    """content (M, D), signature (M, S) -> partners (M, max_partners), nearest first, NO_PARTNER-padded.

    Clips are grouped by motion (`motion_groups`). In every other group, a clip's candidate is the clip of highest
    content cosine (`centred_unit`). A candidate is kept when the two are also each other's candidate (mutual) and
    share at least `min_shared` other mutual partners, or when it is the clip's nearest candidate of all. The nearest
    is most often the same character facing the same way or mirrored; the checked ones add the partners that face a
    turned way, whose content lies farther than other characters': on the Sprites training split, 28% of the plain
    candidates across a turn are the same character before any pairing and 53% after one round of it; of the checked
    ones (`min_shared` 3), 74% and 88%."""
    x, group = centred_unit(content), motion_groups(signature, same_motion_cosine)
    num_groups, clips = int(group.max()) + 1, torch.arange(len(x))
    candidate = torch.full((len(x), num_groups), NO_PARTNER, dtype=torch.long)
    similarity = torch.full((len(x), num_groups), float("-inf"))
    members = [torch.nonzero(group == g).flatten() for g in range(num_groups)]
    for start in range(0, len(x), chunk):
        rows = slice(start, start + chunk)
        row_similarity = x[rows] @ x.T  # (chunk, M)
        row_similarity[clips[rows] - start, clips[rows]] = float("-inf")  # never itself
        for g, columns in enumerate(members):
            best = row_similarity[:, columns].max(dim=1)
            candidate[rows, g], similarity[rows, g] = columns[best.indices], best.values
    own = group[:, None] == torch.arange(num_groups)
    candidate[own], similarity[own] = NO_PARTNER, float("-inf")
    partner_of_candidate = candidate[candidate.clamp_min(0), group[:, None].expand_as(candidate)]
    mutual = torch.where((candidate >= 0) & (partner_of_candidate == clips[:, None]), candidate, NO_PARTNER)
    keep = (mutual >= 0) & (_shared_partners(mutual) >= min_shared)
    keep[clips, similarity.argmax(dim=1)] = True  # the nearest of all
    keep &= candidate >= 0
    ranked = torch.where(keep, similarity, float("-inf")).sort(dim=1, descending=True)
    partners = torch.where(torch.isfinite(ranked.values), candidate.gather(1, ranked.indices), NO_PARTNER)
    return F.pad(partners, (0, max(0, max_partners - num_groups)), value=NO_PARTNER)[:, :max_partners]


def _shared_partners(mutual: torch.Tensor, pairs_per_chunk: int = 2 ** 16) -> torch.Tensor:
    """mutual partners (M, G), NO_PARTNER-padded -> (M, G): for each pair (i, mutual[i, g]), how many partners the
    two have in common. Chunked over i so that the (chunk, G, G, G) comparison stays small."""
    shared = torch.zeros_like(mutual)
    step = max(1, pairs_per_chunk // mutual.shape[1] ** 2)
    for start in range(0, len(mutual), step):
        mine = mutual[start:start + step]  # (c, G)
        theirs = mutual[mine.clamp_min(0)]  # (c, G, G): each partner's own partners
        common = (mine[:, None, :, None] == theirs[:, :, None, :]) & (mine[:, None, :, None] >= 0)
        shared[start:start + step] = common.flatten(2).sum(2)
    return torch.where(mutual >= 0, shared, 0)


__all__ = ["NO_PARTNER", "centred_unit", "mine_content_partners", "motion_groups", "motion_signature"]
