"""Diagnostic: what a content encoder learns from the contrastive term alone, in minutes instead of a 30-minute run.

Trains only the content encoder of a config stack (no motion encoder, quantizer or denoiser) with the contrastive
term of training (models/contrastive.py: the content of a clip's two segments should agree and differ from other
clips'), on the LPC training split, then fits linear probes (eval/probes.py) from its content to each attribute and
to the motion class: a high attribute probe says the content holds it, a high motion probe says it leaks motion.
`--supervised` trains the encoder on the attribute labels instead: the ceiling of its stem, a diagnostic only.

    SPRITES_LPC=../shared/lpc_assets python benchmarks/content_probe.py --steps 800 \
        --config configs/sprites.yaml --config configs/presets/colour_content.yaml --set content_stem_pool=flatten

Prints a markdown row per probe point (--probe_every steps). Probes are fitted on the first --train_clips training
clips and scored on the first --test_clips test clips, content read from each clip's first segment, as in training.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stacked_configs  # noqa: E402
from sprites_data import machine  # noqa: E402

from motioncontent.data import SpritesDataModule  # noqa: E402
from motioncontent.eval.probes import linear_probe  # noqa: E402
from motioncontent.models.contrastive import content_info_nce  # noqa: E402
from motioncontent.models.judge import JUDGE_HEADS  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402
from motioncontent.systems.judge import ATTRIBUTES  # noqa: E402


@torch.no_grad()
def content_features(model: BCDModule, dataset, clips: int, batch_size: int = 64) -> torch.Tensor:
    """(clips, K * C_c): the content of each clip's first segment, the encoder in eval mode (as `encode`)."""
    model.eval()
    split, out = model.content_split(dataset[0][0].shape[0]), []
    for start in range(0, min(clips, len(dataset)), batch_size):
        video = torch.stack([dataset[k][0] for k in range(start, min(clips, len(dataset), start + batch_size))])
        out.append(model.encoder.encode_content(model.content_latents(video[:, :split])).flatten(1))
    model.train()
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="config files, merged in order (default: sprites.yaml + "
                        "colour_content.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a model argument")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--probe_every", type=int, default=400)
    parser.add_argument("--supervised", action="store_true", help="train on the attribute labels (a ceiling)")
    parser.add_argument("--train_clips", type=int, default=3000)
    parser.add_argument("--test_clips", type=int, default=1000)
    args = parser.parse_args()
    torch.manual_seed(0)
    config_paths = args.config or ["configs/sprites.yaml", "configs/presets/colour_content.yaml"]
    model_args = stacked_configs.model_args(config_paths, args.set)
    if not model_args.get("separate_content_encoder"):
        raise SystemExit("error: content_probe needs a stack with separate_content_encoder: true")
    model = BCDModule(**{**model_args, "ema_decay": 0.0})
    encoder = model.encoder.content
    data = SpritesDataModule(source="lpc", batch_size=stacked_configs.merged_section(config_paths, "data")["batch_size"])
    data.prepare_data()
    data.setup("fit")
    train_set, test_set = data.train_set, data.test_set
    width = model.hparams.num_content_queries * model.hparams.content_dim
    heads = torch.nn.ModuleDict({name: torch.nn.Linear(width, JUDGE_HEADS[name]) for name in ATTRIBUTES})
    optimizer = torch.optim.AdamW([*encoder.parameters(), *heads.parameters()], lr=model.hparams.lr)
    names = ("motion", *ATTRIBUTES)
    print(f"machine: {machine()}\n{' + '.join(config_paths)} {' '.join(args.set)}"
          f"{' (supervised)' if args.supervised else ''}\n")
    print("| step | seconds | " + " | ".join(f"probe content -> {name}" for name in names) + " |")
    print("|" + "---|" * (len(names) + 2))
    step, start = 0, time.time()
    model.train()
    while step < args.steps:
        for video, labels in data.train_dataloader():
            split = model.content_split(video.shape[1])
            first = encoder.encode_content(model.content_latents(video[:, :split]))
            if args.supervised:
                pooled = first.flatten(1)
                loss = sum(F.cross_entropy(heads[name](pooled), labels[name]) for name in ATTRIBUTES)
            else:
                loss = content_info_nce(first, encoder.encode_content(model.content_latents(video[:, split:])))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % args.probe_every == 0 or step == args.steps:
                seconds = time.time() - start
                train_x = content_features(model, train_set, args.train_clips)
                test_x = content_features(model, test_set, args.test_clips)
                accuracy = [linear_probe(train_x, torch.from_numpy(train_set.label(name)[:len(train_x)]).long(),
                                         test_x, torch.from_numpy(test_set.label(name)[:len(test_x)]).long(),
                                         JUDGE_HEADS[name]) for name in names]
                print(f"| {step} | {seconds:.0f} | " + " | ".join(f"{100 * a:.1f}%" for a in accuracy) + " |",
                      flush=True)
            if step >= args.steps:
                break


if __name__ == "__main__":
    main()
