"""Motion bitstream rate on held-out talking-head clips: bits/frame and kbps at 25 fps of each entropy model, next to
the codes' empirical entropy, the prior's NLL and the quantizer capacity.

    python benchmarks/motion_bitstream.py --bcd BCD.ckpt [--prior PRIOR.ckpt] [--limit 64]

Reads the test split of the prior's data (configs/prior_talking_heads.yaml: synthetic faces, 32-frame clips) the way
`codec encode` reads a video (content from the first frames, codes in windows) and codes every clip as one file's
payload (so the range coder's final-word overhead, up to 32 bits per clip, is included). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from motioncontent.codec.entropy import adaptive_model, encode_codes, encode_with_prior, static_model
from motioncontent.data import TalkingHeadDataModule
from motioncontent.models.rate import code_bits_per_frame
from motioncontent.systems.inference import codes_of_clips, load_bcd, load_prior

try:
    from sprites_data import machine
except ImportError:  # run from elsewhere
    from benchmarks.sprites_data import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bcd", required=True)
    parser.add_argument("--prior", default=None)
    parser.add_argument("--limit", type=int, default=64, help="test clips to code")
    parser.add_argument("--num_frames", type=int, default=32)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--content_frames", type=int, default=8)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    bcd = load_bcd(args.bcd)
    prior = load_prior(args.prior, bcd) if args.prior else None
    window = prior.hparams.window if prior is not None else args.window
    content_frames = prior.hparams.content_frames if prior is not None else args.content_frames
    data = TalkingHeadDataModule(num_frames=args.num_frames, image_size=int(bcd.hparams.image_size), batch_size=8)
    data.prepare_data()
    data.setup("test")
    N, E = bcd.num_groups, int(bcd.quantizer.codebook_size)
    bits = {"adaptive": 0, "static": 0, "prior": 0}
    all_codes, nll, frames, started = [], 0.0, 0, time.perf_counter()
    for start in range(0, min(args.limit, len(data.test_set)), 8):
        stop = min(start + 8, args.limit, len(data.test_set))
        video = torch.stack([data.test_set[i][0] for i in range(start, stop)])
        content, codes = codes_of_clips(bcd, video, window, content_frames)
        content = content.half().float()  # what the file carries
        for c, k in zip(content, codes.numpy()):
            all_codes.append(k)
            frames += len(k)
            bits["adaptive"] += 8 * len(encode_codes(k, adaptive_model(N, E)))
            if prior is not None:
                bits["static"] += 8 * len(encode_codes(k, static_model(prior.static_tables().numpy())))
                bits["prior"] += 8 * len(encode_with_prior(k, prior.prior, c[None]))
        if prior is not None:
            nll += float(prior.prior.nll_bits(content, codes)) * codes.shape[0] * codes.shape[1]
    seconds = time.perf_counter() - started
    entropy = float(code_bits_per_frame(torch.as_tensor(np.concatenate(all_codes)), E, sync=False))
    rows = [("capacity N log2 E", N * math.log2(E)), ("empirical order-0 entropy of the codes", entropy)]
    if prior is not None:
        rows.append(("prior NLL (ideal code length)", nll / frames))
    rows += [(f"bitstream, {name} tables" if name != "prior" else "bitstream, prior", b / frames)
             for name, b in bits.items() if b]
    print(f"{len(all_codes)} test clips x {args.num_frames} frames, windows of {window}; {machine()}; {seconds:.0f} s\n")
    print("| motion stream | bits/frame | kbps at 25 fps |\n|---|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:.2f} | {value * 25 / 1000:.3f} |")


if __name__ == "__main__":
    main()
