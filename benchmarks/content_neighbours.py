"""Diagnostic: does a trained BCD model's content find the same character across a change of facing?

For every clip of the LPC test split, the nearest other clip in content space (cosine of the centred content, read
by `encode` from the whole clip, as the swap benchmark reads it) among the clips that face the same way, the mirror
image's way (left <-> right) or a turned way (front <-> either side): how often is it the same character? Chance is
about 0.3% (a character's 2-6 clips among 600-1800 candidates). High figures say that content read in one facing
already lies near the same character's content in another: clips could then be paired across facings without
labels, by their content (as NNCLR, Dwibedi et al. 2021, pairs images by nearest neighbours).

With `--mining`, it also mines content partners on the training split as MineContentPartners would
(data/mined_pairs.py) and says, by the labels the mining never reads, how many partners each clip gets, how many are
the same character, and how many of those across a turn are: for the nearest only, for the mutual candidates, and
for those that also share 3 partners (the default).

    SPRITES_LPC=../shared/lpc_assets python benchmarks/content_neighbours.py CKPT [--mining]

Prints one markdown row (the checkpoint and the three shares), with `--mining` a table, and the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sprites_data import machine  # noqa: E402

from motioncontent.data import SpritesDataModule  # noqa: E402
from motioncontent.data.mined_pairs import (  # noqa: E402
    NO_PARTNER, centred_unit, mine_content_partners, motion_signature)
from motioncontent.data.sprites.factors import facing_change  # noqa: E402
from motioncontent.eval.probes import bcd_features  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402


def neighbour_is_same_character(content: torch.Tensor, characters: torch.Tensor, directions: torch.Tensor
                                ) -> dict[str, float]:
    """Share of clips whose nearest neighbour (cosine, centred features) in each facing group is the same character."""
    x = centred_unit(content)
    similarity = x @ x.T
    change = facing_change(directions[:, None], directions[None])
    groups = {"same facing": change["same"] & ~torch.eye(len(x), dtype=torch.bool),
              "mirrored": change["mirrored"], "turned": change["turned"]}
    shares = {}
    for name, candidates in groups.items():
        nearest = similarity.masked_fill(~candidates, float("-inf")).argmax(1)
        has = candidates.any(1)
        shares[name] = (characters[nearest] == characters)[has].double().mean().item()
    return shares


def mining_quality(content: torch.Tensor, codes: torch.Tensor, num_frames: int, characters: torch.Tensor,
                   directions: torch.Tensor) -> list[str]:
    """Markdown rows: the partner tables of three `min_shared` settings against the character and direction labels."""
    signature = motion_signature(codes, num_frames)
    rows = ["| partners kept | per clip | same character | across a turn | of those, same character |",
            "|---|---|---|---|---|"]
    for name, min_shared in (("the nearest only", len(content)), ("mutual", 0), ("mutual, 3 shared (default)", 3)):
        partner = mine_content_partners(content, signature, min_shared=min_shared)
        i, j = torch.nonzero(partner != NO_PARTNER, as_tuple=True)[0], partner[partner != NO_PARTNER]
        same, turned = characters[i] == characters[j], facing_change(directions[i], directions[j])["turned"]
        rows.append(f"| {name} | {len(i) / len(content):.2f} | {100 * same.double().mean():.1f}% | "
                    f"{100 * turned.double().mean():.1f}% | {100 * same[turned].double().mean():.1f}% |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a BCDModule checkpoint trained on Sprites")
    parser.add_argument("--data_dir", default="data")
    parser.add_argument("--mining", action="store_true", help="also mine partners on the training split")
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_grad_enabled(False)
    model = BCDModule.load_from_checkpoint(args.checkpoint, map_location="cpu", weights_only=True).eval()
    data = SpritesDataModule(source="lpc", data_dir=args.data_dir)
    data.setup("test")  # builds the training split too
    content, _ = bcd_features(model, data.test_set)
    shares = neighbour_is_same_character(content, *labels(data.test_set))
    print(f"| {args.checkpoint} | " + " | ".join(f"{name}: {100 * v:.1f}%" for name, v in shares.items()) + " |")
    if args.mining:
        content, codes = bcd_features(model, data.train_set)
        print("\n".join(mining_quality(content, codes, len(data.train_set[0][0]), *labels(data.train_set))))
    print(f"{len(content)} {'training' if args.mining else 'test'} clips, {time.perf_counter() - started:.0f} s on "
          f"{machine()}")


def labels(clips) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(clips.label("character")), torch.from_numpy(clips.label("direction"))


if __name__ == "__main__":
    main()
