"""Diagnostic: does a trained BCD model's content find the same character across a change of facing?

For every clip of the LPC test split, the nearest other clip in content space (cosine of the centred content, read
by `encode` from the whole clip, as the swap benchmark reads it) among the clips that face the same way, the mirror
image's way (left <-> right) or a turned way (front <-> either side): how often is it the same character? Chance is
about 0.3% (a character's 2-6 clips among 600-1800 candidates). High figures say that content read in one facing
already lies near the same character's content in another: clips could then be paired across facings without
labels, by their content (as NNCLR, Dwibedi et al. 2021, pairs images by nearest neighbours).

    SPRITES_LPC=../shared/lpc_assets python benchmarks/content_neighbours.py CKPT

Prints one markdown row (the checkpoint and the three shares) and the machine.
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
from motioncontent.data.sprites.factors import facing_change  # noqa: E402
from motioncontent.eval.probes import bcd_features  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402


def neighbour_is_same_character(content: torch.Tensor, characters: torch.Tensor, directions: torch.Tensor
                                ) -> dict[str, float]:
    """Share of clips whose nearest neighbour (cosine, centred features) in each facing group is the same character."""
    x = content - content.mean(0)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a BCDModule checkpoint trained on Sprites")
    parser.add_argument("--data_dir", default="data")
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_grad_enabled(False)
    model = BCDModule.load_from_checkpoint(args.checkpoint, map_location="cpu", weights_only=True).eval()
    data = SpritesDataModule(source="lpc", data_dir=args.data_dir)
    data.setup("test")
    content, _ = bcd_features(model, data.test_set)
    shares = neighbour_is_same_character(content, torch.from_numpy(data.test_set.label("character")),
                                         torch.from_numpy(data.test_set.label("direction")))
    print(f"| {args.checkpoint} | " + " | ".join(f"{name}: {100 * v:.1f}%" for name, v in shares.items()) + " |")
    print(f"{len(content)} test clips, {time.perf_counter() - started:.0f} s on {machine()}")


if __name__ == "__main__":
    main()
