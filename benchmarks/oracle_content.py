"""Diagnostic: can the denoiser of a config render Sprites appearance when its content is perfect?

Trains the config's BCD model for --steps with the encoder's content replaced by an *oracle*: one learned embedding
per true attribute value (skin, pants, top, hair; unit scale, clearly different between characters). Motion is the
model's own (encoder + rate-controlled quantizer on the motion segment, colours permuted as in training). Then the
judge scores swaps (oracle content of test clip i, codes of partner j) on the first --clips test clips.

High attribute accuracy here while the real model stays at chance says the content *encoder* is what limits;
chance here says the denoiser or the training budget does. Not a benchmark of BCD itself: it uses labels.

    SPRITES_LPC=../shared/lpc_assets python benchmarks/oracle_content.py --steps 2000
    # presets stack as on the command line (README: 1500 steps on the Sprites codec's latents)
    python benchmarks/oracle_content.py --config configs/sprites.yaml --config configs/presets/sprites_latents.yaml \
        --steps 1500
    # --set KEY=VALUE overrides a model argument (the value is read as YAML), e.g. --set p_mean=1.5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stacked_configs  # noqa: E402

from motioncontent.data import SpritesDataModule  # noqa: E402
from motioncontent.eval.sprites_swap import swap_pairing  # noqa: E402
from motioncontent.models.rate import rate_loss, soft_bits_per_frame  # noqa: E402
from motioncontent.models.views import permute_channels  # noqa: E402
from motioncontent.systems import BCDModule  # noqa: E402
from motioncontent.systems.judge import ATTRIBUTES, load_judge  # noqa: E402


class OracleContent(nn.Module):
    """labels -> content (B, 4, C_c): a learned embedding of each true attribute value, normal(0, 1) at init."""

    def __init__(self, content_dim: int, values: int = 6):
        super().__init__()
        self.tables = nn.ModuleList([nn.Embedding(values, content_dim) for _ in ATTRIBUTES])

    def forward(self, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([table(labels[name]) for table, name in zip(self.tables, ATTRIBUTES)], dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="config files, merged in order (default: sprites.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a model argument")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--clips", type=int, default=256, help="test clips scored")
    parser.add_argument("--judge", default="checkpoints/judge_sprites.ckpt")
    args = parser.parse_args()
    torch.manual_seed(0)
    config_paths = args.config or ["configs/sprites.yaml"]
    model_args = stacked_configs.model_args(config_paths, args.set)
    batch_size = stacked_configs.merged_section(config_paths, "data")["batch_size"]
    clip = stacked_configs.merged_section(config_paths, "trainer", key=None).get("gradient_clip_val")
    model = BCDModule(**{**model_args, "ema_decay": 0.0})
    model.oracle = OracleContent(model.hparams.content_dim)  # a submodule, so configure_optimizers trains it
    data = SpritesDataModule(source="lpc", batch_size=batch_size)
    data.prepare_data()
    data.setup("fit")
    optimization = model.configure_optimizers()
    optimizer, scheduler = optimization["optimizer"], optimization["lr_scheduler"]["scheduler"]
    step, start = 0, time.time()
    model.train()
    while step < args.steps:
        for video, labels in data.train_dataloader():
            model.quantizer.temperature = model.temperature(step)
            split = model.content_split(video.shape[1])
            _, motion = model.encoder(model.codec.encode(permute_channels(video[:, split:])))
            q = model.quantizer(motion)
            target = model.codec.encode(video[:, split:])
            diffusion = model.edm.training_loss(model.denoiser, target, motion=q.quantized, content=model.oracle(labels))
            loss = diffusion + model.hparams.rate_weight * rate_loss(soft_bits_per_frame(q.probs), model.target_bits)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip or 1e9)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 500 == 0:
                print(f"step {step}: diffusion loss {diffusion.item():.4f} ({time.time() - start:.0f} s)", flush=True)
            if step >= args.steps:
                break
    model.eval()
    judge, test = load_judge(args.judge), data.test_set
    labels = {name: test.label(name) for name in ("character", "motion", *ATTRIBUTES)}
    partners = swap_pairing(labels["character"], labels["motion"], seed=0)
    correct = {name: 0 for name in ("motion", *ATTRIBUTES, "joint")}
    n = min(args.clips, len(test))
    with torch.no_grad():
        for first in range(0, n, 32):
            items = np.arange(first, min(n, first + 32))
            driving = torch.stack([test[int(k)][0] for k in partners[items]])
            content = model.oracle({name: torch.from_numpy(labels[name][items]) for name in ATTRIBUTES})
            _, codes = model.encode(driving)
            scores = judge(model.decode(content, codes))
            correct["motion"] += int((scores["motion"].argmax(1).numpy() == labels["motion"][partners[items]]).sum())
            joint = np.ones(len(items), dtype=bool)
            for name in ATTRIBUTES:
                hit = scores[name].argmax(1).numpy() == labels[name][items]
                correct[name] += int(hit.sum())
                joint &= hit
            correct["joint"] += int(joint.sum())
    print(f"\n{' + '.join(config_paths)} {' '.join(args.set)}, oracle content, {args.steps} steps, "
          f"{time.time() - start:.0f} s; swaps on {n} test clips")
    print("| motion | skin | pants | top | hair | joint attributes |\n|---|---|---|---|---|---|")
    print("| " + " | ".join(f"{100 * correct[k] / n:.1f}%" for k in ("motion", *ATTRIBUTES, "joint")) + " |")


if __name__ == "__main__":
    main()
